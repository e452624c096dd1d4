"""A send whose task message the broker lost, with nothing else going on (no poll task, no
other request): a running worker's own sweep timer enqueues it again once its grace is over,
and it is sent once, even when the lost message turns up after all.

Real parts: a Redis for the records and the worker's broker, a second Redis standing for the
broker that lost the message (the producer published there; no worker reads it), a Celery
worker process, the sandbox gateway.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import redis
from celery import Celery
from helpers import Sandbox, WorkerProcess, make_settings, wait_until

from worker import get_status, request_code, verify_code
from worker.dev.devstack import private_redis
from worker.queue.celery_app import CeleryQueue, configure
from worker.queue.names import SEND_QUEUE
from worker.runtime import Runtime
from worker.settings import Settings
from worker.steps.sweeping import sweep_interval_seconds


@pytest.fixture
def lost_broker() -> Iterator[str]:
    with private_redis() as url:
        yield url


def _producer(settings: Settings) -> Runtime:
    """A web app's producer with these settings: its own Celery app, as ``celery -A`` builds."""
    celery = configure(Celery("targetsms-producer"), lambda: settings)
    queue = CeleryQueue(celery, max_countdown_seconds=settings.visibility_timeout - 5.0)
    return Runtime.from_settings(settings, queue=queue)


@pytest.mark.long_wait(20)
def test_a_lost_send_is_sent_by_the_workers_sweep_timer_and_only_once(
    redis_url: str,
    lost_broker: str,
    sandbox: Sandbox,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    # A 12 s send window: a 6 s grace, a sweep every 3 s (the defaults are 45 s and 5 s).
    worker_settings = make_settings(redis_url, sandbox, OTP_SEND_DEADLINE_SECONDS=12)
    grace = worker_settings.pending_send_grace_ms / 1000
    interval = sweep_interval_seconds(worker_settings)
    assert (grace, interval) == (6.0, 3.0)
    worker = start_worker(worker_settings)  # ready: its start-up sweep has run, on nothing
    # The producer writes the records in the same store, and its message goes where no worker
    # reads: lost, as a failover loses it.
    lost = worker_settings.replace(CELERY_BROKER_URL=lost_broker)
    rt = _producer(lost)
    phone = "+79001112233"
    created = time.monotonic()
    verification_id = request_code(phone, runtime=rt).id
    assert redis.Redis.from_url(lost_broker).llen(SEND_QUEUE) == 1

    wait_until(
        lambda: get_status(verification_id, runtime=rt).state == "sent",
        timeout=grace + 3 * interval,
        what="the lost send sent",
    )
    took = time.monotonic() - created
    assert grace <= took <= worker_settings.codes.send_deadline_seconds, took
    assert f"lost send {verification_id} enqueued again" in worker.output()

    # Never twice: the lost message turns up (a worker on that broker takes it), and further
    # sweeps find nothing pending.
    late = start_worker(lost)
    wait_until(lambda: redis.Redis.from_url(lost_broker).llen(SEND_QUEUE) == 0, timeout=10)
    time.sleep(grace + interval)
    assert len(sandbox.outbox(phone)) == 1
    assert worker.output().count("enqueued again") == 1
    assert verify_code(verification_id, sandbox.last_code(phone), runtime=rt).ok
    assert "Unrecoverable error" not in worker.output() + late.output()
    rt.close()
