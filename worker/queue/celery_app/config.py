"""``celery_config(settings)``: the Celery configuration, a plain function of the settings."""

from __future__ import annotations

from typing import Any

from worker.queue import quorum
from worker.queue.broker import broker_url, transport_options
from worker.queue.names import (
    POLL_QUEUE,
    POLL_TASK,
    SEND_QUEUE,
    SEND_TASK,
    WEBHOOK_QUEUE,
    WEBHOOK_TASK,
)
from worker.settings import Settings

__all__ = ["celery_config"]

# Publishing retries stay short: the web request waiting on it should fail fast and clearly.
_PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.4}


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery's configuration for these settings: a plain function, testable without a broker."""
    time_limit = int(settings.codes.send_deadline_seconds + settings.lock_ttl_seconds + 10)
    return {
        "broker_url": broker_url(settings),
        # Redis redelivers a message that is not acked within this time (its worker died): short,
        # so a lost send resumes within its deadline; longer than any countdown we set. Swept
        # every 5 s (kombu's default sweep is ~100 s).
        "broker_transport_options": transport_options(
            settings,
            {
                "visibility_timeout": settings.visibility_timeout,
                "unacked_restore_interval": 5,
                "unacked_restore_throttle": 1,
                "socket_timeout": 5,
                "socket_connect_timeout": 3,
                "health_check_interval": 25,
            },
        ),
        # A worker that dies mid-send must not lose the request: ack after the task, not before,
        # and requeue when a prefork child is killed. Our own send lock stops a second send.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # With late acks, a worker holds only what it can start now; the rest stays in the
        # broker for other workers (no head-of-line blocking behind a slow gateway).
        "worker_prefetch_multiplier": 1,
        # Task messages carry ids only; JSON keeps them readable and pickle out.
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        # Our state lives in our own Redis records: no result backend, nothing to leak there.
        "task_ignore_result": True,
        "task_store_errors_even_if_ignored": False,
        "result_backend": None,
        # Workers started before the broker keep trying instead of exiting.
        "broker_connection_retry_on_startup": True,
        "broker_connection_retry": True,
        # On broker loss a late-acked task in flight is redelivered later. Let it finish: its
        # redelivered copy meets the send lock or a stored outcome and does nothing, whereas a
        # canceled send may have reached the gateway and would send a second SMS. (The threads
        # pool cannot cancel anyway: Celery logs a NotImplementedError traceback per task.)
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        # Prefork enforces these; threads/gevent pools do not, so HTTP calls carry their own
        # connect/read timeouts and the send deadline caps the retries.
        "task_time_limit": time_limit + 30,
        "task_soft_time_limit": time_limit,
        "task_default_queue": SEND_QUEUE,
        "task_default_exchange": "targetsms",
        "task_default_routing_key": SEND_QUEUE,
        "task_queues": quorum.task_queues(settings.quorum_queues),
        # Sends are latency-sensitive, polls are not: separate queues so a poll backlog never
        # delays a code.
        "task_routes": {
            SEND_TASK: {"queue": SEND_QUEUE, "routing_key": SEND_QUEUE},
            POLL_TASK: {"queue": POLL_QUEUE, "routing_key": POLL_QUEUE},
            WEBHOOK_TASK: {"queue": WEBHOOK_QUEUE, "routing_key": WEBHOOK_QUEUE},
        },
        "task_publish_retry": True,
        "task_publish_retry_policy": _PUBLISH_RETRY,
        # Task events cost a Redis publish per task state (12% of a worker's CPU, measured in
        # BENCHMARKS.md); Flower switches them on in the workers while it runs (its
        # --enable-events, on by default). Arguments are ids only either way.
        "worker_send_task_events": False,
        "task_send_sent_event": False,
    }
