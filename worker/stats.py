"""Counters for ``targetsms stats``: sends, verifications, conversion and refusals.

Five-minute hash buckets (kept a day and an hour): cheap to bump inside the Lua steps, and a
sliding hour or day is a sum over the last 12 or 288 buckets.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from .store import UNAVAILABLE, Store

__all__ = ["BUCKET_SECONDS", "STATS_TTL_MS", "bucket_key", "count_refusal", "read_stats"]

BUCKET_SECONDS = 300
STATS_TTL_MS = (24 * 3600 + 3600) * 1000


def bucket_key(store: Store, at: float | None = None) -> str:
    slot = int((time.time() if at is None else at) // BUCKET_SECONDS)
    return f"{store.keys.prefix}st:{slot}"


def count_refusal(store: Store, reason: str) -> None:
    """Best effort: a refusal is already decided; losing its counter must not fail it."""
    key = bucket_key(store)
    try:
        with store.redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(key, f"refused:{reason}", 1)
            pipe.pexpire(key, STATS_TTL_MS)
            pipe.hincrby(store.keys.totals, f"refused:{reason}", 1)  # all-time, for metrics
            pipe.execute()
    except UNAVAILABLE:
        pass


def _summary(totals: Counter[str]) -> dict[str, Any]:
    def conversion(sent: int, verified: int) -> float | None:
        return round(verified / sent, 4) if sent else None

    countries: dict[str, dict[str, Any]] = {}
    for field, value in totals.items():
        kind, _, region = field.partition(":")
        if kind in ("sent", "verified") and region:
            countries.setdefault(region, {"sent": 0, "verified": 0})[kind] = value
    for entry in countries.values():
        entry["conversion"] = conversion(entry["sent"], entry["verified"])
    return {
        "sent": totals["sent"],
        "verified": totals["verified"],
        "conversion": conversion(totals["sent"], totals["verified"]),
        "refused": {
            field.partition(":")[2]: value
            for field, value in sorted(totals.items())
            if field.startswith("refused:")
        },
        "countries": countries,
    }


def read_stats(store: Store) -> dict[str, Any]:
    now = time.time()
    slots = [
        bucket_key(store, now - i * BUCKET_SECONDS) for i in range(24 * 3600 // BUCKET_SECONDS)
    ]
    with store.redis.pipeline(transaction=False) as pipe:
        for key in slots:
            pipe.hgetall(key)
        buckets: list[dict[str, str]] = pipe.execute()
    hour: Counter[str] = Counter()
    day: Counter[str] = Counter()
    for i, bucket in enumerate(buckets):
        counts = Counter({k: int(v) for k, v in bucket.items()})
        day.update(counts)
        if i < 3600 // BUCKET_SECONDS:
            hour.update(counts)
    return {"last_hour": _summary(hour), "last_day": _summary(day)}
