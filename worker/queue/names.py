"""Task and queue names: what producers, workers, Flower and the exporter agree on.

A module of its own so that reading them (the metrics exporter, ``targetsms check``) builds no
Celery app and patches nothing.
"""

from __future__ import annotations

__all__ = [
    "POLL_QUEUE",
    "POLL_TASK",
    "SEND_QUEUE",
    "SEND_TASK",
    "WEBHOOK_QUEUE",
    "WEBHOOK_TASK",
]

SEND_TASK = "tasks.send_code"
POLL_TASK = "tasks.poll_status"
SEND_QUEUE = "targetsms.send"
POLL_QUEUE = "targetsms.poll"
# Webhook deliveries wait on sites' servers: a queue of their own, behind no send.
WEBHOOK_TASK = "tasks.deliver_webhook"
WEBHOOK_QUEUE = "targetsms.webhooks"
