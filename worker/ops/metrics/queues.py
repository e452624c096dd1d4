"""The broker source: messages waiting in (and consumers of) each queue, by passive declare."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from worker.ops.metrics.families import Families
from worker.queue.depth import queue_depths

__all__ = ["collect_queues", "queue_depths"]

log = logging.getLogger("targetsms.metrics")


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
