"""``targetsms metrics``: one Prometheus exporter for the whole deployment.

Producers and workers run as many processes on many machines, so no process's memory holds the
totals: the Lua steps count into one Redis hash (``Store.totals``), and this exporter reads that
hash, the broker's queues and the (cached) account balance on every scrape. Anything that is
down is reported through ``targetsms_up{component}`` and left out; a scrape never fails.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from kombu import Connection
from prometheus_client import make_wsgi_app
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from worker.core.delivery import recorded_status
from worker.errors import GatewayError
from worker.ops.stats import read_stats
from worker.queue.broker import broker_url, transport_options
from worker.queue.names import POLL_QUEUE, SEND_QUEUE
from worker.runtime import Runtime
from worker.store import Store, StoreUnavailable

__all__ = [
    "BALANCE_INTERVAL",
    "GATEWAY_ENDPOINTS",
    "TargetSMSCollector",
    "metric_names",
    "queue_depths",
    "serve",
]

log = logging.getLogger("targetsms.metrics")

# The gateway's balance.php is asked at most this often, however many exporters share a Redis.
BALANCE_INTERVAL = 60.0
# A balance older than this (the gateway keeps failing) is no longer exported.
BALANCE_MAX_AGE = 600.0
# A scrape must answer well within Prometheus's default 10 s scrape timeout.
_GATEWAY_TIME_LEFT = 3.0
_BROKER_TIMEOUT = 3.0
GATEWAY_ENDPOINTS = ("send", "state", "balance")


@dataclass
class _Families:
    """Every metric this exporter serves (``describe`` lists them empty, ``collect`` fills)."""

    sent: CounterMetricFamily
    failed: CounterMetricFamily
    refused: CounterMetricFamily
    verifications: CounterMetricFamily
    delivery: CounterMetricFamily
    latency: HistogramMetricFamily
    queue_depth: GaugeMetricFamily
    queue_consumers: GaugeMetricFamily
    balance: GaugeMetricFamily
    balance_alert_below: GaugeMetricFamily
    conversion: GaugeMetricFamily
    up: GaugeMetricFamily

    @classmethod
    def new(cls) -> _Families:
        return cls(
            sent=CounterMetricFamily(
                "targetsms_sms_sent", "SMS the gateway accepted (all time, every worker)"
            ),
            failed=CounterMetricFamily(
                "targetsms_sms_failed",
                "sends that ended failed, by stable error code",
                labels=["code"],
            ),
            refused=CounterMetricFamily(
                "targetsms_requests_refused",
                "code requests and resends refused, by the check that fired",
                labels=["reason"],
            ),
            verifications=CounterMetricFamily(
                "targetsms_verifications", "verify_code outcomes, by result", labels=["result"]
            ),
            delivery=CounterMetricFamily(
                "targetsms_delivery_status",
                "delivery statuses records moved to (the guide's words; any other is `other`)",
                labels=["status"],
            ),
            latency=HistogramMetricFamily(
                "targetsms_gateway_request_seconds",
                "duration of HTTP requests to the gateway, failed ones included",
                labels=["endpoint"],
            ),
            queue_depth=GaugeMetricFamily(
                "targetsms_queue_depth", "messages waiting in a broker queue", labels=["queue"]
            ),
            queue_consumers=GaugeMetricFamily(
                "targetsms_queue_consumers",
                "consumers of a broker queue (RabbitMQ only: a Redis broker cannot tell)",
                labels=["queue"],
            ),
            balance=GaugeMetricFamily(
                "targetsms_balance", "the TargetSMS account balance (balance.php, cached)"
            ),
            balance_alert_below=GaugeMetricFamily(
                "targetsms_balance_alert_below", "OTP_BALANCE_ALERT_BELOW: the low-balance alert"
            ),
            conversion=GaugeMetricFamily(
                "targetsms_conversion_ratio", "verified / requested over the last hour"
            ),
            up=GaugeMetricFamily(
                "targetsms_up",
                "1 when the exporter reached the component on this scrape (gateway: the last "
                "balance call)",
                labels=["component"],
            ),
        )

    def all(self) -> list[Metric]:
        return list(vars(self).values())


def metric_names() -> set[str]:
    """Every sample name the exporter can serve (``_total``, ``_bucket``... included)."""
    names: set[str] = set()
    for family in _Families.new().all():
        suffixes = {
            "counter": ("_total",),
            "histogram": ("_bucket", "_sum", "_count"),
        }.get(family.type, ("",))
        names.update(family.name + suffix for suffix in suffixes)
    return names


def _float(value: str | None) -> float:
    try:
        number = float(value or 0)
    except ValueError:
        return 0.0
    return number if math.isfinite(number) else 0.0


def _fill_totals(f: _Families, totals: dict[str, str]) -> None:
    """The ``totals`` hash (see ``Store.totals``) as counters and histograms."""
    f.sent.add_metric([], _float(totals.get("sms_sent")))
    by_prefix = (
        ("sms_failed:", f.failed),
        ("refused:", f.refused),
        ("verify:", f.verifications),
    )
    delivery: dict[str, float] = {}
    for name, value in sorted(totals.items()):
        for prefix, family in by_prefix:
            if name.startswith(prefix) and len(name) > len(prefix):
                family.add_metric([name[len(prefix) :]], _float(value))
        if name.startswith("delivery:") and len(name) > len("delivery:"):
            # The statuses the guide names, everything else (a field an older version let a
            # forged push make, say) under one label: the label set stays bounded.
            status, _ = recorded_status(name[len("delivery:") :])
            delivery[status] = delivery.get(status, 0.0) + _float(value)
    for status, total in sorted(delivery.items()):
        f.delivery.add_metric([status], total)
    for endpoint in GATEWAY_ENDPOINTS:
        _fill_histogram(f.latency, endpoint, totals)


def _fill_histogram(family: HistogramMetricFamily, endpoint: str, totals: dict[str, str]) -> None:
    """Stored buckets are per bucket, not cumulative: add them up in bound order."""
    field = f"gw:{endpoint}:le:"
    stored = {name[len(field) :]: _float(v) for name, v in totals.items() if name.startswith(field)}
    bounds = sorted(
        {b for b in (*Store.GATEWAY_BUCKETS, *stored) if b != "+Inf" and _is_bound(b)}, key=float
    )
    running = 0.0
    buckets: list[tuple[str, float]] = []
    for bound in bounds:
        running += stored.get(bound, 0.0)
        buckets.append((repr(float(bound)), running))  # "1" -> "1.0", as client libraries write it
    running += stored.get("+Inf", 0.0)
    buckets.append(("+Inf", running))  # == the count, whatever a half-written pipeline left
    family.add_metric([endpoint], buckets, _float(totals.get(f"gw:{endpoint}:sum")))


def _is_bound(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def queue_depths(
    broker_url: str, queues: Sequence[str], transport_options: dict[str, Any] | None = None
) -> dict[str, tuple[int, int | None]]:
    """(messages waiting, consumers or None when the broker cannot tell) per queue.

    A passive declare through kombu, which creates nothing: RabbitMQ answers both counts;
    kombu's Redis transport sums the lists it keeps per priority step and knows no consumers.
    A queue nobody has declared (or, on Redis, that is empty) holds nothing.
    """
    out: dict[str, tuple[int, int | None]] = {}
    with Connection(
        broker_url, connect_timeout=_BROKER_TIMEOUT, transport_options=transport_options
    ) as conn:
        conn.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0, timeout=int(_BROKER_TIMEOUT)
        )
        virtual = conn.transport.driver_type == "redis"
        for queue in queues:
            channel: Any = conn.channel()  # kombu's stubs lack queue_declare
            try:
                _, count, consumers = channel.queue_declare(queue=queue, passive=True)
                out[queue] = (int(count), None if virtual else int(consumers))
            except conn.channel_errors:  # not declared yet
                out[queue] = (0, None if virtual else 0)
            finally:
                with contextlib.suppress(Exception):  # the server may have closed it already
                    channel.close()
    return out


class TargetSMSCollector(Collector):
    """Reads the deployment's state on each scrape; ``clock`` is injectable for tests."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        queues: Sequence[str] = (SEND_QUEUE, POLL_QUEUE),
        balance_interval: float = BALANCE_INTERVAL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rt = runtime
        self.queues = tuple(queues)
        self.balance_interval = balance_interval
        self.clock = clock

    def describe(self) -> Iterable[Metric]:
        return _Families.new().all()

    def collect(self) -> Iterator[Metric]:
        f = _Families.new()
        s = self.rt.settings
        f.balance_alert_below.add_metric([], s.balance_alert_below)
        store = self.rt.store
        try:
            totals = store.totals()
            conversion = read_stats(store)["last_hour"]["conversion"]
            redis_up = True
        except StoreUnavailable as exc:
            log.warning("metrics: %s", exc)
            redis_up = False
        f.up.add_metric(["redis"], float(redis_up))
        if redis_up:
            _fill_totals(f, totals)
            if conversion is not None:
                f.conversion.add_metric([], float(conversion))
            self._fill_balance(f)
        try:
            depths = queue_depths(broker_url(s), self.queues, transport_options(s))
            f.up.add_metric(["broker"], 1.0)
        except Exception as exc:  # kombu and redis raise many types; any means "not reached"
            log.warning("metrics: broker unreachable (%s)", type(exc).__name__)
            f.up.add_metric(["broker"], 0.0)
            depths = {}
        for queue, (count, consumers) in depths.items():
            f.queue_depth.add_metric([queue], float(count))
            if consumers is not None:
                f.queue_consumers.add_metric([queue], float(consumers))
        yield from f.all()

    def _fill_balance(self, f: _Families) -> None:
        """The cached balance; refreshed by whichever exporter first finds the refresh due
        (a lock with the interval as its TTL, never released early), so balance.php is called
        at most once per interval across every exporter on this Redis, failures included."""
        store = self.rt.store
        try:
            if store.balance_refresh_due(self._interval_ms):
                store.cache_balance(self._ask_balance())
            cached = store.cached_balance()
        except StoreUnavailable:
            return
        if "ok" in cached:
            f.up.add_metric(["gateway"], _float(cached["ok"]))
        money, at = cached.get("money"), _float(cached.get("at"))
        if money is not None and self.clock() - at <= BALANCE_MAX_AGE:
            f.balance.add_metric([], _float(money))

    @property
    def _interval_ms(self) -> int:
        return max(1, int(self.balance_interval * 1000))

    def _ask_balance(self) -> dict[str, str]:
        try:
            balance = self.rt.provider.balance(time_left=_GATEWAY_TIME_LEFT)
        except GatewayError as exc:
            log.warning("metrics: balance unavailable (%s)", exc.code)
            return {"ok": "0"}
        money = float(balance.money)
        fields = {"ok": "1"}
        if math.isfinite(money):
            fields.update(money=repr(money), currency=balance.currency, at=repr(self.clock()))
        return fields


def serve(runtime: Runtime, host: str, port: int, *, stop: threading.Event | None = None) -> None:
    """Serve ``GET /metrics`` until ``stop`` is set (or forever), within ``METRICS_LIMITS``
    (worker/web/serving.py). Raises OSError when the address is taken."""
    from worker.web.serving import METRICS_LIMITS
    from worker.web.serving import serve as bind

    registry = CollectorRegistry()
    registry.register(TargetSMSCollector(runtime))
    server = bind(make_wsgi_app(registry), host, port, METRICS_LIMITS, name="metrics")
    log.info("metrics on %s/metrics", server.url)
    server.run((stop or threading.Event()).is_set)
