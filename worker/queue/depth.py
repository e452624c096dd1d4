"""How many messages wait in a queue, by a passive declare through kombu: what the metrics
exporter reports and what the lost-send sweep asks before enqueueing a send again."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from kombu import Connection

__all__ = ["queue_depths"]

# An answer within a few seconds or none: a scrape must answer well within Prometheus's
# default 10 s scrape timeout, and a sweep runs every few seconds.
_BROKER_TIMEOUT = 3.0


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
