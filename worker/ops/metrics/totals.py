"""The Redis source: the ``totals`` hash and the last hour's conversion, as metrics."""

from __future__ import annotations

import logging

from prometheus_client.core import HistogramMetricFamily

from worker.core.delivery import recorded_status
from worker.ops.metrics.families import Families
from worker.ops.metrics.values import is_bound, stored_float
from worker.ops.stats import read_stats
from worker.store import GATEWAY_BUCKETS, GATEWAY_ENDPOINTS, Store, StoreUnavailable

__all__ = ["GATEWAY_ENDPOINTS", "collect_totals", "fill_totals"]

log = logging.getLogger("targetsms.metrics")


def collect_totals(f: Families, store: Store) -> bool:
    """Fill the counters, histograms and conversion from ``store``; False when Redis is down."""
    try:
        totals = store.totals()
        conversion = read_stats(store)["last_hour"]["conversion"]
    except StoreUnavailable as exc:
        log.warning("metrics: %s", exc)
        return False
    fill_totals(f, totals)
    if conversion is not None:
        f.conversion.add_metric([], float(conversion))
    return True


def fill_totals(f: Families, totals: dict[str, str]) -> None:
    """The ``totals`` hash (see ``Store.totals``) as counters and histograms."""
    f.sent.add_metric([], stored_float(totals.get("sms_sent")))
    f.test_number_sends.add_metric([], stored_float(totals.get("test_number_sends")))
    by_prefix = (
        ("sms_failed:", f.failed),
        ("refused:", f.refused),
        ("verify:", f.verifications),
    )
    delivery: dict[str, float] = {}
    for name, value in sorted(totals.items()):
        for prefix, family in by_prefix:
            if name.startswith(prefix) and len(name) > len(prefix):
                family.add_metric([name[len(prefix) :]], stored_float(value))
        if name.startswith("delivery:") and len(name) > len("delivery:"):
            # The statuses the guide names, everything else (a field an older version let a
            # forged push make, say) under one label: the label set stays bounded.
            status, _ = recorded_status(name[len("delivery:") :])
            delivery[status] = delivery.get(status, 0.0) + stored_float(value)
        kind, _, rest = name.partition(":")
        key, _, outcome = rest.partition(":")
        if kind == "site" and key and outcome:  # an HTTP API key's outcome (store/api_keys.py)
            f.api_key.add_metric([key, outcome], stored_float(value))
    for status, total in sorted(delivery.items()):
        f.delivery.add_metric([status], total)
    for endpoint in GATEWAY_ENDPOINTS:
        _fill_histogram(f.latency, endpoint, totals)


def _fill_histogram(family: HistogramMetricFamily, endpoint: str, totals: dict[str, str]) -> None:
    """Stored buckets are per bucket, not cumulative: add them up in bound order."""
    field = f"gw:{endpoint}:le:"
    stored = {
        name[len(field) :]: stored_float(v) for name, v in totals.items() if name.startswith(field)
    }
    bounds = sorted(
        {b for b in (*GATEWAY_BUCKETS, *stored) if b != "+Inf" and is_bound(b)}, key=float
    )
    running = 0.0
    buckets: list[tuple[str, float]] = []
    for bound in bounds:
        running += stored.get(bound, 0.0)
        buckets.append((repr(float(bound)), running))  # "1" -> "1.0", as client libraries write it
    running += stored.get("+Inf", 0.0)
    buckets.append(("+Inf", running))  # == the count, whatever a half-written pipeline left
    family.add_metric([endpoint], buckets, stored_float(totals.get(f"gw:{endpoint}:sum")))
