"""The catalogue of every metric the exporter serves, built empty for each scrape."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

__all__ = ["Families", "metric_names"]


@dataclass
class Families:
    """Every metric this exporter serves (``describe`` lists them empty, ``collect`` fills)."""

    sent: CounterMetricFamily
    test_number_sends: CounterMetricFamily
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
    api_key: CounterMetricFamily

    @classmethod
    def new(cls) -> Families:
        return cls(
            sent=CounterMetricFamily(
                "targetsms_sms_sent", "SMS the gateway accepted (all time, every worker)"
            ),
            test_number_sends=CounterMetricFamily(
                "targetsms_test_number_sends",
                "sends to OTP_TEST_NUMBERS: a fixed code stored, no SMS, nothing spent",
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
            api_key=CounterMetricFamily(
                "targetsms_api_key_requests",
                "HTTP API outcomes per site key: created, replayed, resent, verify:<reason>, "
                "refused:<code>",
                labels=["key", "outcome"],
            ),
        )

    def all(self) -> list[Metric]:
        return list(vars(self).values())


def metric_names() -> set[str]:
    """Every sample name the exporter can serve (``_total``, ``_bucket``... included)."""
    names: set[str] = set()
    for family in Families.new().all():
        suffixes = {
            "counter": ("_total",),
            "histogram": ("_bucket", "_sum", "_count"),
        }.get(family.type, ("",))
        names.update(family.name + suffix for suffix in suffixes)
    return names
