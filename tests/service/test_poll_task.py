"""The ``poll_status`` task and the worker-start hook (tasks/poll.py), run in-process (Celery's
apply) on a real Redis, a ``FakeClock`` and the in-memory provider: one batched ``state``
request, statuses stored, the next poll queued through the runtime's queue."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from helpers import FakeClock, make_settings, raw_redis, refused_port, runtime_with_clock

# The module, not the task: pytest's collection would evaluate Celery's task proxy (and so the
# app's configuration) before the session runtime exists.
from tasks import poll as poll_module
from worker import get_status, request_code
from worker.providers.memory import InMemoryProvider
from worker.runtime import Runtime, get_runtime, set_runtime
from worker.steps.sending import send_verification


class PollRecorder:
    """A ``TaskQueue`` that keeps what it was given (the interface, not our Celery code); no
    worker takes a send from it, so a message here is as good as lost until a test runs it."""

    def __init__(self) -> None:
        self.polls: list[tuple[str, float]] = []
        self.sends: list[str] = []

    def enqueue_send(self, verification_id: str) -> None:
        self.sends.append(verification_id)

    def send_backlog(self) -> int:
        return len(self.sends)  # nothing takes them: every one is still waiting

    def enqueue_poll(self, marker: str, delay_seconds: float) -> None:
        self.polls.append((marker, delay_seconds))


@pytest.fixture
def worker_runtime(redis_url: str, sms: InMemoryProvider) -> Iterator[tuple[Runtime, FakeClock]]:
    """The process runtime a worker's tasks read, on a fake clock and a recording queue."""
    clock = FakeClock()
    base = runtime_with_clock(make_settings(redis_url), clock, sms)
    rt = Runtime(base.settings, base.store, task_queue=PollRecorder(), sms_provider=sms)
    previous = get_runtime()
    set_runtime(rt)
    yield rt, clock
    set_runtime(previous)
    rt.close()


def queued(rt: Runtime) -> list[tuple[str, float]]:
    assert isinstance(rt.task_queue, PollRecorder)
    return rt.task_queue.polls


def sent_ids(rt: Runtime, count: int) -> tuple[list[str], str]:
    """``count`` sent verifications and the marker of the one poll task their sends share."""
    ids, markers = [], []
    for n in range(count):
        req = request_code(f"+7900444{n:04d}", runtime=rt)
        outcome = send_verification(rt, req.id)
        ids.append(req.id)
        if outcome.poll is not None:
            markers.append(outcome.poll.marker)
    (marker,) = markers
    return ids, marker


def test_a_poll_asks_once_for_every_due_id_and_queues_the_next_for_the_pending(
    worker_runtime: tuple[Runtime, FakeClock], sms: InMemoryProvider
) -> None:
    rt, clock = worker_runtime
    ids, marker = sent_ids(rt, 3)
    sms.statuses.update({m.id_sms: "deliver" for m in sms.outbox[:2]})  # the third stays "send"
    clock.advance(rt.settings.polling.first_delay_seconds + 0.1)
    result = poll_module.poll_status.apply(args=[marker])
    assert result.successful() and result.result == 3  # ids asked, in one request
    ((asked,),) = [sms.state_requests]  # one request, for all three
    assert sorted(asked) == sorted(m.id_sms for m in sms.outbox)
    assert [get_status(i, runtime=rt).delivery_status for i in ids] == [
        "deliver",
        "deliver",
        "send",
    ]
    ((next_marker, delay),) = queued(rt)  # the pending one is polled again, later
    assert next_marker and 0 < delay <= rt.settings.polling.max_delay_seconds + 1


def test_a_poll_with_nothing_due_asks_nothing(
    worker_runtime: tuple[Runtime, FakeClock], sms: InMemoryProvider
) -> None:
    rt, _ = worker_runtime
    _, marker = sent_ids(rt, 1)  # its first poll is not due yet
    assert poll_module.poll_status.apply(args=[marker]).result == 0
    assert sms.state_requests == []


def test_a_worker_that_starts_re_arms_polling_for_what_is_pending(
    worker_runtime: tuple[Runtime, FakeClock], sms: InMemoryProvider
) -> None:
    """A poll task lost with a broker: the next worker to start queues one again once the lost
    one's marker has expired (its grace after the due time, in Redis's own time); before that
    the task is taken to be on its way."""
    rt, _ = worker_runtime
    sent_ids(rt, 2)
    poll_module.resume_polling()
    assert queued(rt) == []  # the sends' poll task is still on its way
    raw_redis(rt).delete(rt.store.keys.poll_marker)  # ... until its marker expires
    poll_module.resume_polling()
    ((marker, delay),) = queued(rt)
    assert marker and delay >= 0
    assert sms.state_requests == []  # the hook only queues; the task asks


def test_a_worker_that_starts_with_nothing_pending_queues_nothing(
    worker_runtime: tuple[Runtime, FakeClock],
) -> None:
    rt, _ = worker_runtime
    poll_module.resume_polling()
    assert queued(rt) == []


def test_a_send_whose_message_was_lost_is_enqueued_again_after_the_grace_and_sent_once(
    worker_runtime: tuple[Runtime, FakeClock], sms: InMemoryProvider
) -> None:
    rt, clock = worker_runtime
    assert isinstance(rt.task_queue, PollRecorder)
    sends = rt.task_queue.sends
    req = request_code("+79004440100", runtime=rt)
    assert sends == [req.id]
    sends.clear()  # the broker failed over and lost it
    grace = rt.settings.pending_send_grace_ms / 1000
    clock.advance(grace - 1)
    poll_module.poll_status.apply(args=[""])
    assert sends == []  # its message may still be redelivered
    clock.advance(1)
    poll_module.poll_status.apply(args=[""])
    assert sends == [req.id]
    for duplicate in sends:  # the swept message, then a late redelivery of the lost one
        send_verification(rt, duplicate)
        send_verification(rt, duplicate)
    assert [m.phone for m in sms.outbox] == ["+79004440100"]
    assert get_status(req.id, runtime=rt).state == "sent"
    clock.advance(grace)
    poll_module.resume_polling()
    assert sends == [req.id]  # claimed: nothing is pending any more


def test_the_workers_sweep_needs_no_message_for_a_lost_send_nor_a_lost_poll_task(
    worker_runtime: tuple[Runtime, FakeClock], sms: InMemoryProvider
) -> None:
    """A failover lost a send's message and the poll task of earlier sends: the sweep a
    worker's own timer runs (``sweep_lost_work``) queues both again, each once."""
    rt, clock = worker_runtime
    assert isinstance(rt.task_queue, PollRecorder)
    sends = rt.task_queue.sends
    sent_ids(rt, 2)  # their poll task: queued, then lost
    lost = request_code("+79004440200", runtime=rt).id
    sends.clear()  # the send's message: lost
    raw_redis(rt).delete(rt.store.keys.poll_marker)  # the poll task's marker, after its grace
    clock.advance(rt.settings.pending_send_grace_ms / 1000)
    poll_module.sweep_lost_work()
    assert sends == [lost]
    ((marker, delay),) = queued(rt)
    assert marker and delay >= 0
    poll_module.sweep_lost_work()  # the next tick: both are on their way again
    assert sends == [lost] and len(queued(rt)) == 1
    send_verification(rt, lost)
    send_verification(rt, lost)  # the lost message turned up after all
    assert [m.phone for m in sms.outbox].count("+79004440200") == 1


def test_the_workers_sweep_with_redis_away_is_one_warning_and_no_error(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The timer keeps its schedule: a tick that cannot reach Redis says so and returns."""
    settings = make_settings(f"redis://127.0.0.1:{refused_port()}/0")  # nothing listens there
    rt = Runtime.from_settings(settings, queue=PollRecorder())
    previous = get_runtime()
    set_runtime(rt)
    try:
        with caplog.at_level(logging.WARNING, logger="targetsms.poll"):
            poll_module.sweep_lost_work()
    finally:
        set_runtime(previous)
        rt.close()
    (record,) = [r for r in caplog.records if r.name == "targetsms.poll"]
    assert record.getMessage().startswith("sweep: Redis at 127.0.0.1:")
    assert "unavailable" in record.getMessage()
