"""The lost-send sweep (``worker.steps.sweeping.requeue_lost_sends``) against a real broker's
send queue, Redis and RabbitMQ (the depth is read differently: kombu's lists, a passive
declare): overdue sends whose messages still wait in a backlog are not enqueued again, a send
whose message is gone is, and a broker that does not answer leaves every overdue id due.

Real parts: the session Redis for the records (on a ``FakeClock``), a broker of the test's own
(a private redis-server, or a RabbitMQ vhost) that no worker reads, the producer API and our
Celery queue publishing to it. Losing a message is what a failover does: the queue purged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from celery import Celery
from helpers import FakeClock, make_settings, refused_port, wait_until
from kombu import Connection, Queue

from worker import request_code
from worker.dev.devstack import private_redis
from worker.providers.memory import InMemoryProvider
from worker.queue.celery_app import CeleryQueue, configure
from worker.queue.names import SEND_QUEUE
from worker.runtime import Runtime
from worker.settings import Settings
from worker.steps.sweeping import requeue_lost_sends
from worker.store import Store


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request: pytest.FixtureRequest) -> Iterator[str]:
    """A broker no other test publishes to, so its send queue holds this test's messages."""
    if request.param == "redis":
        with private_redis() as url:
            yield url
    else:
        yield request.getfixturevalue("amqp_vhost")


def celery_queue(settings: Settings) -> CeleryQueue:
    """Our queue on a Celery app of its own for these settings, as ``celery -A`` builds it."""
    celery = configure(Celery("targetsms-sweep-test"), lambda: settings)
    return CeleryQueue(celery, max_countdown_seconds=settings.visibility_timeout - 5.0)


def runtime_on(settings: Settings, store: Store, sms: InMemoryProvider) -> Runtime:
    return Runtime(settings, store, task_queue=celery_queue(settings), sms_provider=sms)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def rt(redis_url: str, broker: str, clock: FakeClock, sms: InMemoryProvider) -> Iterator[Runtime]:
    settings = make_settings(redis_url, CELERY_BROKER_URL=broker)
    store = Store.from_url(settings.redis_url, settings.redis_prefix, clock=clock)
    runtime = runtime_on(settings, store, sms)
    yield runtime
    runtime.close()


def waiting(rt: Runtime, count: int) -> None:
    """Until the broker counts ``count`` send messages (RabbitMQ counts a publish a moment
    after the publisher wrote it)."""
    wait_until(lambda: rt.queue.send_backlog() == count, timeout=10, what=f"{count} queued")


def lose_queued_messages(broker: str) -> None:
    with Connection(broker) as conn:
        Queue(SEND_QUEUE)(conn.default_channel).purge()


def take_queued(broker: str) -> list[str]:
    """Take every waiting send message, first in first: the verification ids they carry."""
    ids: list[str] = []
    with Connection(broker) as conn:
        queue = Queue(SEND_QUEUE)(conn.default_channel)
        while (message := queue.get(no_ack=True)) is not None:
            args, _, _ = message.decode()
            ids.append(str(args[0]))
    return ids


def requests(rt: Runtime, clock: FakeClock, count: int, first: int = 0) -> list[str]:
    """``count`` verifications a millisecond apart (ties in the pending set go by id)."""
    ids = []
    for n in range(count):
        clock.advance(0.001)
        ids.append(request_code(f"+7900555{first + n:04d}", runtime=rt).id)
    return ids


def past_the_grace(rt: Runtime, clock: FakeClock) -> None:
    clock.advance(rt.settings.pending_send_grace_ms / 1000 + 1)


def test_a_backlog_older_than_the_grace_is_not_enqueued_again(
    rt: Runtime, broker: str, clock: FakeClock
) -> None:
    ids = requests(rt, clock, 5)
    waiting(rt, 5)
    past_the_grace(rt, clock)
    assert rt.store.overdue_sends().count == 5  # overdue, and still in the queue
    assert requeue_lost_sends(rt) == 0
    assert requeue_lost_sends(rt) == 0  # the next sweep: still queued, still not doubled
    assert rt.store.overdue_sends().count == 5  # postponed, not taken: due at every sweep
    assert take_queued(broker) == ids  # each once, in order


def test_a_lost_send_is_enqueued_again_behind_the_backlog_and_a_drained_one_too(
    rt: Runtime, broker: str, clock: FakeClock
) -> None:
    (lost,) = requests(rt, clock, 1)
    waiting(rt, 1)
    lose_queued_messages(broker)
    backlog = requests(rt, clock, 2, first=1)
    waiting(rt, 2)
    past_the_grace(rt, clock)
    assert requeue_lost_sends(rt) == 1  # two published after it, two waiting: it is gone
    waiting(rt, 3)
    # The queue hands the backlog over (to a worker that then died, its copies lost too)...
    assert take_queued(broker) == [*backlog, lost]
    # ...and the queue no longer holds them: the next sweep takes them, not the lost send,
    # whose copy is due again one grace after it was enqueued.
    assert requeue_lost_sends(rt) == 2
    waiting(rt, 2)
    assert take_queued(broker) == backlog


def test_a_broker_that_does_not_answer_leaves_every_overdue_send_for_the_next_sweep(
    rt: Runtime,
    broker: str,
    clock: FakeClock,
    sms: InMemoryProvider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    (lost,) = requests(rt, clock, 1)
    waiting(rt, 1)
    lose_queued_messages(broker)
    past_the_grace(rt, clock)
    scheme = broker.partition("://")[0]
    away = runtime_on(
        rt.settings.replace(CELERY_BROKER_URL=f"{scheme}://127.0.0.1:{refused_port()}/0"),
        rt.store,
        sms,
    )
    with caplog.at_level(logging.WARNING, logger="targetsms.sweep"):
        assert requeue_lost_sends(away) == 0
    (record,) = [r for r in caplog.records if r.name == "targetsms.sweep"]
    assert record.getMessage().startswith("lost sends: the broker at 127.0.0.1:")
    assert record.getMessage().endswith("1 overdue left for the next sweep")
    assert rt.store.overdue_sends().count == 1  # nothing taken: due now, not a grace later
    assert requeue_lost_sends(rt) == 1  # the broker is back: the next sweep enqueues it
    waiting(rt, 1)
    assert take_queued(broker) == [lost]
