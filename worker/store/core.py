"""What every job of the Store shares: the client, the key layout, the clock and the scripts.

The job modules (verifications, sending, delivery, deny, counters, events) each add their
steps to ``StoreCore`` as a mixin and ``Store`` combines them (``redis_store.py``): one
door for callers, one small file per job for readers, and a new job (API keys, say) is one more
module and one more base class. Mixins rather than one object per job, because every job needs
the same four things (client, keys, clock, scripts) and callers already say ``store.<step>``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

import redis

from worker.store.calls import Call, on_verification
from worker.store.connection import (
    Client,
    Topology,
    is_cluster,
    translated,
    where_of,
    where_of_topology,
)
from worker.store.keys import STATS_BUCKET_SECONDS, STATS_TTL_MS, Keys
from worker.store.scripts import Scripts

__all__ = [
    "IDS_PER_STEP",
    "STATS_BUCKET_SECONDS",
    "STATS_TTL_MS",
    "StoreCore",
    "chunked",
    "connect",
    "guarded",
]

# Ids one Lua step loops over, at most. Redis runs nothing else while a script runs, so a poll of
# 200 ids in one step held every web app's call for 7-17 ms on a busy 2-core VM (its slow log,
# ``bench/under_load.py``); 25 keep a step near a millisecond there and cost the poller a few
# more round trips (one per 25 ids), where polls are a few per thousand SMS.
IDS_PER_STEP = 25

T = TypeVar("T")
P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S", bound="StoreCore")


def connect(url: str, max_connections: int = 128) -> redis.Redis:
    """A client of the one server at ``url`` (``Topology`` builds the others)."""
    client = Topology(url).connect(max_connections)
    assert isinstance(client, redis.Redis)
    return client


def chunked(items: Sequence[T], size: int = IDS_PER_STEP) -> list[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size``: one per Lua step."""
    return [items[start : start + size] for start in range(0, len(items), size)]


def guarded(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Redis' own exceptions end here, as ``StoreUnavailable``."""

    def wrapper(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with translated(self.where):
            return method(self, *args, **kwargs)

    functools.update_wrapper(wrapper, method)
    return wrapper


class StoreCore:
    """``clock`` (tests only) replaces the Redis server's time in every step, so rules that
    depend on time can be tested without sleeping; production reads Redis' ``TIME``."""

    def __init__(
        self,
        client: Client,
        prefix: str,
        *,
        clock: Callable[[], float] | None = None,
        where: str = "",
    ) -> None:
        self._redis: Any = client  # redis.Redis or RedisCluster: the same commands here
        self._clock = clock
        self.keys = Keys(prefix, cluster=is_cluster(client))
        self._scripts = Scripts(client)
        self.where = where or where_of(client)

    @classmethod
    def from_url(
        cls: type[S],
        url: str,
        prefix: str,
        *,
        clock: Callable[[], float] | None = None,
        topology: Topology | None = None,
    ) -> S:
        """``topology`` (Sentinel, Cluster) when given, else the one server at ``url``."""
        topology = topology or Topology(url)
        return cls(topology.connect(), prefix, clock=clock, where=where_of_topology(topology))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(where={self.where!r}, prefix={self.keys.prefix!r})"

    def close(self) -> None:
        self._redis.close()

    @guarded
    def ping(self) -> str:
        """The Redis server's version: proof that it answers."""
        return str(self._redis.info("server").get("redis_version", "?"))

    def _now(self) -> float:
        return self._clock() if self._clock is not None else time.time()

    def stats_key(self, at: float | None = None) -> str:
        return self.keys.stats_at(self._now() if at is None else at)

    def _call(self, call: Call) -> dict[str, Any]:
        return self._scripts.run(call, self._clock)

    def _run(self, name: str, keys: Sequence[str], arg: Mapping[str, Any]) -> dict[str, Any]:
        return self._call(Call(name, list(keys), arg))

    def _verification_step(
        self, name: str, verification_id: str, keys: Sequence[str], arg: Mapping[str, Any]
    ) -> dict[str, Any]:
        """A step on one verification (``calls.on_verification``)."""
        return self._call(on_verification(self.keys, name, verification_id, keys, arg))
