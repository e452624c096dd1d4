"""Counters: the all-time ``totals`` hash the metrics exporter reads, the five-minute buckets
``targetsms stats`` reads, gateway latencies, and the exporter's cached balance.

Fields of ``totals``: sms_requested, sms_sent, sms_failed:<code>, refused:<reason>,
verify:<result>, delivery:<status> (bumped inside the Lua steps and ``count_refusal``), and the
gateway latency histogram gw:<endpoint>:count, :sum and :le:<bound>. Buckets are NOT
cumulative: an observation bumps only the smallest bound that holds it (one write instead of up
to fifteen); the exporter adds them up.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import redis

from worker.store.calls import queue_refusal_count
from worker.store.core import STATS_BUCKET_SECONDS, StoreCore, guarded

__all__ = ["GATEWAY_BUCKETS", "GATEWAY_ENDPOINTS", "Counters", "GatewayTimings", "taken"]

#: Gateway latency histogram bounds (seconds); buckets are stored non-cumulative.
GATEWAY_BUCKETS: tuple[str, ...] = (
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
    "1", "2.5", "5", "10", "15", "30", "+Inf",
)  # fmt: skip
#: The gateway endpoints whose latency is counted (and exported); others are not written.
GATEWAY_ENDPOINTS: tuple[str, ...] = ("send", "state", "balance")

_local = threading.local()


def _timing(endpoint: str, seconds: float) -> list[Any]:
    bound = next(b for b in GATEWAY_BUCKETS if b == "+Inf" or seconds <= float(b))
    return [endpoint, seconds, bound]


class GatewayTimings:
    """Gateway request durations observed on one thread, for the Lua step that ends the send
    or poll to count (``totals`` hash: gw:<endpoint>:count, :sum, :le:<bound>)."""

    def __init__(self) -> None:
        self.items: list[list[Any]] = []

    def add(self, endpoint: str, seconds: float) -> None:
        self.items.append(_timing(endpoint, seconds))

    def take(self) -> list[list[Any]]:
        items, self.items = self.items, []
        return items


def taken(timings: GatewayTimings | None) -> list[list[Any]] | dict[str, Any]:
    """For a step's JSON: the timings (an empty JSON object when none: Lua cannot tell)."""
    return (timings.take() if timings is not None else []) or {}


class Counters(StoreCore):
    @guarded
    def totals(self) -> dict[str, str]:
        """Every all-time counter, as stored (the metrics exporter's source)."""
        return {str(k): str(v) for k, v in self._redis.hgetall(self.keys.totals).items()}

    @guarded
    def count_refusal(self, reason: str) -> None:
        """Count a refusal decided in Python or Lua alike, for stats and metrics."""
        with self._redis.pipeline(transaction=False) as pipe:
            queue_refusal_count(pipe, self.keys, self.stats_key(), reason)
            pipe.execute()

    @guarded
    def stats_buckets(self, count: int, at: float | None = None) -> list[dict[str, str]]:
        """The last ``count`` statistics buckets, newest first."""
        now = self._now() if at is None else at
        with self._redis.pipeline(transaction=False) as pipe:
            for i in range(count):
                pipe.hgetall(self.stats_key(now - i * STATS_BUCKET_SECONDS))
            buckets: list[dict[str, str]] = pipe.execute()
        return buckets

    @guarded
    def balance_refresh_due(self, interval_ms: int) -> bool:
        """True for exactly one caller per interval (across processes): that one asks the
        gateway. The lock is never released early, so failures are paced too."""
        return bool(self._redis.set(self.keys.balance_lock, "1", nx=True, px=interval_ms))

    @guarded
    def cache_balance(self, fields: Mapping[str, str]) -> None:
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(self.keys.balance, mapping=dict[Any, Any](fields))
            pipe.pexpire(self.keys.balance, 3_600_000)
            pipe.execute()

    @guarded
    def cached_balance(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self._redis.hgetall(self.keys.balance).items()}

    def observe_gateway(self, endpoint: str, seconds: float) -> None:
        """Record one gateway request's duration. Inside ``gateway_timings`` it is kept for
        the Lua step that ends the send or poll (no round trip of its own); elsewhere it is
        written at once. Best effort: a metric must never fail a send."""
        if endpoint not in GATEWAY_ENDPOINTS:
            return
        timings: GatewayTimings | None = getattr(_local, "timings", None)
        if timings is not None:
            timings.add(endpoint, seconds)
            return
        self._write_timings([_timing(endpoint, seconds)])

    @contextlib.contextmanager
    def gateway_timings(self) -> Iterator[GatewayTimings]:
        """Collect this thread's gateway timings for the step that ends the block; whatever
        no step wrote is written when the block ends."""
        timings, previous = GatewayTimings(), getattr(_local, "timings", None)
        _local.timings = timings
        try:
            yield timings
        finally:
            _local.timings = previous
            if timings.items:
                self._write_timings(timings.take())

    def _write_timings(self, items: Sequence[list[Any]]) -> None:
        key = self.keys.totals
        with (
            contextlib.suppress(redis.RedisError, OSError),
            self._redis.pipeline(transaction=False) as pipe,
        ):
            for endpoint, seconds, bound in items:
                pipe.hincrby(key, f"gw:{endpoint}:count", 1)
                pipe.hincrbyfloat(key, f"gw:{endpoint}:sum", seconds)
                pipe.hincrby(key, f"gw:{endpoint}:le:{bound}", 1)
            pipe.execute()
