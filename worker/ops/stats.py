"""``targetsms stats``: sends, verifications, conversion and refusals, last hour and day.

The Lua steps bump five-minute buckets as they go (cheap); a sliding hour or day is a sum over
the last 12 or 288 of them.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from worker.store import STATS_BUCKET_SECONDS, Store

__all__ = ["read_stats"]

_HOUR = 3600 // STATS_BUCKET_SECONDS
_DAY = 24 * 3600 // STATS_BUCKET_SECONDS


def _conversion(sent: int, verified: int) -> float | None:
    return round(verified / sent, 4) if sent else None


def _summary(totals: Counter[str]) -> dict[str, Any]:
    countries: dict[str, dict[str, Any]] = {}
    for field, value in totals.items():
        kind, _, region = field.partition(":")
        if kind in ("sent", "verified") and region:
            countries.setdefault(region, {"sent": 0, "verified": 0})[kind] = value
    for entry in countries.values():
        entry["conversion"] = _conversion(entry["sent"], entry["verified"])
    api_keys: dict[str, dict[str, int]] = {}
    for field, value in sorted(totals.items()):
        kind, _, rest = field.partition(":")
        name, _, outcome = rest.partition(":")
        if kind == "site" and value:
            api_keys.setdefault(name, {})[outcome] = value
    return {
        "sent": totals["sent"],
        "verified": totals["verified"],
        "conversion": _conversion(totals["sent"], totals["verified"]),
        "refused": {
            field.partition(":")[2]: value
            for field, value in sorted(totals.items())
            if field.startswith("refused:") and value
        },
        "countries": countries,
        # Per HTTP API key: created, replayed, resent, verify:<reason>, refused:<code>.
        "api_keys": api_keys,
    }


def read_stats(store: Store) -> dict[str, Any]:
    hour: Counter[str] = Counter()
    day: Counter[str] = Counter()
    for i, bucket in enumerate(store.stats_buckets(_DAY)):
        counts = Counter({k: int(v) for k, v in bucket.items()})
        day.update(counts)
        if i < _HOUR:
            hour.update(counts)
    return {"last_hour": _summary(hour), "last_day": _summary(day)}
