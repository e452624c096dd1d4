"""The task queue as the producer and the worker see it: two calls, nothing of Celery.

``worker.queue.celery_app.CeleryQueue`` is the implementation; a ``Runtime`` holds one, built on
first use, so importing the producer API, the gateway or the sandbox never builds a Celery app.
"""

from __future__ import annotations

from typing import Protocol

from worker.errors import QueueUnavailable

__all__ = ["QueueUnavailable", "TaskQueue"]


class TaskQueue(Protocol):
    def enqueue_send(self, verification_id: str) -> None:
        """Queue ``send_code`` for this verification; ``QueueUnavailable`` if it was not."""

    def send_backlog(self) -> int:
        """How many messages wait in the send queue (the lost-send sweep asks before it
        enqueues a send again); ``QueueUnavailable`` if the broker did not answer."""

    def enqueue_poll(self, marker: str, delay_seconds: float) -> None:
        """Queue ``poll_status`` to run after ``delay_seconds``."""

    def enqueue_webhook(self, site: str, message_id: str, body: str) -> None:
        """Queue one webhook delivery (``body``: the event's JSON, no code or number);
        ``QueueUnavailable`` if it was not."""
