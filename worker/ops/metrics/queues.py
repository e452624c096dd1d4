"""The broker source: messages waiting in (and consumers of) each queue, by passive declare."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from kombu import Connection

from worker.ops.metrics.families import Families

__all__ = ["collect_queues", "queue_depths"]

log = logging.getLogger("targetsms.metrics")

# A scrape must answer well within Prometheus's default 10 s scrape timeout.
_BROKER_TIMEOUT = 3.0


def collect_queues(
    f: Families,
    broker_url: str,
    queues: Sequence[str],
    transport_options: dict[str, Any] | None = None,
) -> None:
    """Fill the queue gauges and ``targetsms_up{component="broker"}``."""
    try:
        depths = queue_depths(broker_url, queues, transport_options)
        f.up.add_metric(["broker"], 1.0)
    except Exception as exc:  # kombu and redis raise many types; any means "not reached"
        log.warning("metrics: broker unreachable (%s)", type(exc).__name__)
        f.up.add_metric(["broker"], 0.0)
        depths = {}
    for queue, (count, consumers) in depths.items():
        f.queue_depth.add_metric([queue], float(count))
        if consumers is not None:
            f.queue_consumers.add_metric([queue], float(consumers))


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
