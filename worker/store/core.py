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
from worker.store.keys import STATS_BUCKET_SECONDS, STATS_TTL_MS, Keys
from worker.store.scripts import Scripts, translated

__all__ = [
    "STATS_BUCKET_SECONDS",
    "STATS_TTL_MS",
    "StoreCore",
    "connect",
    "guarded",
    "pool_options",
    "where",
]

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S", bound="StoreCore")

#: The pool both clients (thread and ``redis.asyncio``) are built with.
pool_options: dict[str, Any] = {
    "timeout": 5,
    "decode_responses": True,
    "socket_timeout": 5,
    "socket_connect_timeout": 3,
    "health_check_interval": 30,
}


def connect(url: str, max_connections: int = 128) -> redis.Redis:
    """A thread-safe client with timeouts: a Redis that goes away must not hang a request.

    The pool blocks (briefly) when every connection is busy instead of failing, so a burst of
    web threads queues for a connection rather than erroring.
    """
    pool = redis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, **pool_options
    )
    return redis.Redis(connection_pool=pool)


def where(connection_kwargs: Mapping[str, Any]) -> str:
    """The Redis a client talks to, as error messages name it (never its password)."""
    if "path" in connection_kwargs:
        return str(connection_kwargs["path"])
    return f"{connection_kwargs.get('host', '?')}:{connection_kwargs.get('port', '?')}"


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
        self, client: redis.Redis, prefix: str, *, clock: Callable[[], float] | None = None
    ) -> None:
        self._redis = client
        self._clock = clock
        self.keys = Keys(prefix)
        self._scripts = Scripts(client)
        self.where = where(client.connection_pool.connection_kwargs)

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
