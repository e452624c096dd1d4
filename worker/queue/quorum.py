"""The send and poll queues' declarations, classic or (``CELERY_QUORUM_QUEUES=1``) RabbitMQ
quorum queues: durable and replicated over the RabbitMQ cluster's nodes.

A quorum queue counts the deliveries of each message and, past ``x-delivery-limit``, drops it
unless it is dead-lettered; RabbitMQ 4 sets a limit of 20 by default. A send must not vanish,
so a message past the limit (a poison message, or one requeued by worker after worker that died
holding it) is dead-lettered *at least once* into the parked queue, a quorum queue that no
worker consumes: an operator looks at it and moves it back (``rabbitmqadmin`` or a shovel). A
send taken back after its deadline ends ``deadline_exceeded`` in our store, never twice.

Celery delays a countdown task on quorum queues through RabbitMQ itself (native delayed
delivery), which needs a topic exchange: the exchange is a topic one then, routed by the same
keys. A deployment switching an existing vhost must delete the two queues and the exchange
first (RabbitMQ refuses to redeclare a classic queue as a quorum one).
"""

from __future__ import annotations

import math
from typing import Any

from celery import Celery
from celery.signals import worker_ready
from kombu import Connection, Exchange, Queue

from worker.queue.names import POLL_QUEUE, SEND_QUEUE, WEBHOOK_QUEUE

__all__ = ["DELIVERY_LIMIT", "PARKED_QUEUE", "declare_parked", "install", "task_queues"]

PARKED_QUEUE = "targetsms.parked"
#: Deliveries of one message before it is parked. Each redelivery is a worker lost while it
#: held the task (a retry or a busy send is a new message): 20 is far past any honest run.
DELIVERY_LIMIT = 20
_EXCHANGE = "targetsms"
_QUEUES = (SEND_QUEUE, POLL_QUEUE, WEBHOOK_QUEUE)


def quorum_arguments() -> dict[str, Any]:
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        # Past the limit: to the parked queue (through the default exchange), never dropped.
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": PARKED_QUEUE,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",  # at-least-once dead-lettering requires it
    }


def task_queues(quorum: bool) -> tuple[Queue, ...]:
    """The send, poll and webhook queues, bound to the ``targetsms`` exchange by their own names."""
    if not quorum:
        exchange = Exchange(_EXCHANGE, type="direct")
        return tuple(Queue(name, exchange, routing_key=name) for name in _QUEUES)
    exchange = Exchange(_EXCHANGE, type="topic", durable=True)
    return tuple(
        Queue(name, exchange, routing_key=name, durable=True, queue_arguments=quorum_arguments())
        for name in _QUEUES
    )


def parked_queue() -> Queue:
    return Queue(
        PARKED_QUEUE,
        Exchange(""),
        routing_key=PARKED_QUEUE,
        durable=True,
        queue_arguments={"x-queue-type": "quorum"},
    )


def declare_parked(connection: Connection) -> None:
    """Make sure the parked queue exists (before anything can be dead-lettered into it)."""
    with connection.channel() as channel:
        parked_queue()(channel).declare()


def uses_quorum(celery: Celery) -> bool:
    queues = celery.conf.task_queues or ()
    return any((q.queue_arguments or {}).get("x-queue-type") == "quorum" for q in queues)


def install(celery: Celery) -> None:
    """On quorum queues: a worker of ``celery`` declares the parked queue when it is ready,
    and every countdown is rounded up to whole seconds (see ``_whole_seconds``)."""

    def declare(sender: Any = None, **_: Any) -> None:
        if sender is not None and sender.app is celery and uses_quorum(celery):
            with celery.connection_for_write() as connection:
                declare_parked(connection)

    worker_ready.connect(declare, weak=False)
    send_task: Any = celery.send_task

    def send_task_in_whole_seconds(*args: Any, **kw: Any) -> Any:
        if kw.get("countdown") and uses_quorum(celery):
            kw["countdown"] = _whole_seconds(kw["countdown"])
        return send_task(*args, **kw)

    celery.send_task = send_task_in_whole_seconds  # type: ignore[method-assign]


def _whole_seconds(countdown: float) -> float:
    """Native delayed delivery counts whole seconds and refuses a countdown under one (Celery
    raises ValueError): round up, so a countdown is never cut short (a poll's 0.3 s is 1 s)."""
    return float(max(1, math.ceil(countdown))) if countdown > 0 else countdown
