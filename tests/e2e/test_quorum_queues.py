"""RabbitMQ quorum queues (``CELERY_QUORUM_QUEUES=1``) on the local RabbitMQ, one node (quorum
queues run on one node as on three): the whole flow through them, countdowns included, and a
message past the delivery limit parked rather than dropped. Each test has a private vhost."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote, unquote, urlsplit

import requests
from celery import Celery
from helpers import Sandbox, WorkerProcess, make_settings, wait_until
from kombu import Connection

from worker import get_status, request_code, verify_code
from worker.queue.celery_app import CeleryQueue, configure
from worker.queue.names import POLL_QUEUE, SEND_QUEUE
from worker.queue.quorum import (
    DELIVERY_LIMIT,
    PARKED_QUEUE,
    declare_parked,
    parked_queue,
    task_queues,
)
from worker.runtime import Runtime

PHONE = "+79161234567"


def _queue_info(vhost_url: str, name: str) -> dict[str, object]:
    parts = urlsplit(vhost_url)
    vhost = quote(unquote(parts.path[1:]), safe="")
    response = requests.get(
        f"http://{parts.hostname}:15672/api/queues/{vhost}/{quote(name, safe='')}",
        auth=(parts.username or "guest", parts.password or "guest"),
        timeout=10,
    )
    response.raise_for_status()
    info: dict[str, object] = response.json()
    return info


def test_the_flow_runs_on_quorum_queues_countdowns_included(
    redis_url: str, amqp_vhost: str, sandbox: Sandbox, start_worker: Callable[..., WorkerProcess]
) -> None:
    settings = make_settings(
        redis_url, sandbox, CELERY_BROKER_URL=amqp_vhost, CELERY_QUORUM_QUEUES=True
    )
    start_worker(settings, concurrency=2)
    celery = configure(Celery("targetsms-producer"), lambda: settings)
    queue = CeleryQueue(celery, max_countdown_seconds=settings.visibility_timeout - 5.0)
    rt = Runtime.from_settings(settings, queue=queue)
    try:
        verification = request_code(PHONE, runtime=rt).id
        wait_until(lambda: get_status(verification, runtime=rt).state == "sent", timeout=30)
        # The first poll is a countdown task: RabbitMQ's own delayed delivery carries it.
        wait_until(
            lambda: get_status(verification, runtime=rt).delivery_status == "deliver", timeout=30
        )
        assert verify_code(verification, sandbox.last_code(PHONE), runtime=rt).ok
    finally:
        rt.close()
    for name in (SEND_QUEUE, POLL_QUEUE, PARKED_QUEUE):
        info = _queue_info(amqp_vhost, name)
        assert info["type"] == "quorum" and info["durable"] is True, name
    send_args = _queue_info(amqp_vhost, SEND_QUEUE)["arguments"]
    assert isinstance(send_args, dict) and send_args["x-delivery-limit"] == DELIVERY_LIMIT


def test_a_message_past_the_delivery_limit_is_parked_not_dropped(amqp_vhost: str) -> None:
    send_queue = next(q for q in task_queues(quorum=True) if q.name == SEND_QUEUE)
    with Connection(amqp_vhost, connect_timeout=5) as conn:
        declare_parked(conn)
        with conn.channel() as channel:
            bound = send_queue(channel)
            bound.declare()
            producer = conn.Producer(channel)
            producer.publish({"id": "poison"}, exchange=bound.exchange, routing_key=SEND_QUEUE)
            # A worker that dies holding the message, over and over: each return counts, and
            # the delivery past the limit goes to the parked queue instead of away.
            for _ in range(DELIVERY_LIMIT + 1):
                message = wait_until(bound.get, 10, "the message back in its queue")
                message.reject(requeue=True)
            parked = parked_queue()(channel)
            message = wait_until(lambda: parked.get(no_ack=True), 10, "the parked message")
            assert bound.get() is None
    assert message.payload == {"id": "poison"}
