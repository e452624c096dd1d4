"""The task-queue seam: what the producer and the worker ask of a queue, and the Celery app
behind it (``worker.queue.celery_app``, imported only where a Celery app is wanted)."""

from worker.queue.base import QueueUnavailable, TaskQueue

__all__ = ["QueueUnavailable", "TaskQueue"]
