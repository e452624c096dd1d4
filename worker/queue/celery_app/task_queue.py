"""``CeleryQueue``: the ``TaskQueue`` seam on a Celery app, publishing ids and nothing else."""

from __future__ import annotations

from celery import Celery
from kombu.exceptions import OperationalError

from worker.core.endpoint import endpoint
from worker.errors import QueueUnavailable
from worker.queue.depth import queue_depths
from worker.queue.names import POLL_TASK, SEND_QUEUE, SEND_TASK, WEBHOOK_TASK

__all__ = ["CeleryQueue"]


class CeleryQueue:
    """``TaskQueue`` on this Celery app: messages carry the verification id (or the poll
    marker) and nothing else; a webhook delivery, the site's name and the event (no code, no
    number)."""

    def __init__(self, celery: Celery, *, max_countdown_seconds: float) -> None:
        self._app = celery
        # A countdown past the Redis visibility timeout would be redelivered: its owner (who
        # knows that timeout) says how long one hop may be.
        self._hop = max(1.0, max_countdown_seconds)
        self._errors: tuple[type[BaseException], ...] | None = None

    def _publish_errors(self) -> tuple[type[BaseException], ...]:
        """What "the broker did not take it" looks like for this broker's transport."""
        if self._errors is None:
            with self._app.connection_for_write() as conn:
                self._errors = (OperationalError, OSError, *conn.connection_errors)
        return self._errors

    def _unavailable(self, exc: BaseException) -> QueueUnavailable:
        where, what = endpoint(self._app.conf.broker_url or ""), type(exc).__name__
        return QueueUnavailable(f"the broker at {where} is unavailable ({what})")

    def _publish(self, task: str, args: list[str]) -> None:
        try:
            self._app.send_task(task, args=args)
        except self._publish_errors() as exc:
            raise self._unavailable(exc) from None

    def send_backlog(self) -> int:
        # The exporter's read (a passive declare on a connection of its own, bounded in time),
        # on the app's broker URL and transport options: the master Sentinel names, too.
        conf = self._app.conf
        try:
            depths = queue_depths(conf.broker_url, [SEND_QUEUE], conf.broker_transport_options)
        except self._publish_errors() as exc:
            raise self._unavailable(exc) from None
        return depths[SEND_QUEUE][0]

    def enqueue_send(self, verification_id: str) -> None:
        self._publish(SEND_TASK, [verification_id])

    def enqueue_webhook(self, site: str, message_id: str, body: str) -> None:
        self._publish(WEBHOOK_TASK, [site, message_id, body])

    def enqueue_poll(self, marker: str, delay_seconds: float) -> None:
        # A longer wait (a first poll minutes away with TARGETSMS_PUSH=1) hops, each hop a poll
        # task that finds nothing due.
        countdown = min(max(0.0, delay_seconds), self._hop)
        self._app.send_task(POLL_TASK, args=[marker], countdown=countdown)
