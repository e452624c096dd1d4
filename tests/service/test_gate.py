"""Every SMS passes one gate: the holes an outside review found, each closed.

Requests and resends go through the producer API on a real Redis; sends go through the worker's
plain function against the in-memory provider; the broker is a real Redis (or a dead port).
The deny list, the captcha and guessing have homes of their own (test_deny_list.py,
test_captcha_gate.py, test_guessing.py), resends included.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from celery import Celery
from gate_calls import PHONE, refusal, resent, runtime, sent
from helpers import raw_redis, refused_port

from worker import (
    ServiceUnavailable,
    get_status,
    request_code,
    resend,
    verify_code,
)
from worker.ops.stats import read_stats
from worker.providers.memory import InMemoryProvider
from worker.queue.celery_app import CeleryQueue
from worker.queue.names import SEND_QUEUE
from worker.runtime import Runtime
from worker.steps.sending import send_verification

pytestmark = pytest.mark.usefixtures("drop_queued_messages")

OTHER = "+79001234568"


# --- idempotency keys -------------------------------------------------------------------------


def test_an_idempotency_key_never_returns_another_phones_verification(
    redis_url: str, sms: InMemoryProvider
) -> None:
    rt = runtime(redis_url, sms)
    a = request_code(PHONE, idempotency_key="form-1", runtime=rt)
    b = request_code(OTHER, idempotency_key="form-1", runtime=rt)
    assert b.created and b.id != a.id  # B gets its own verification and its own SMS
    send_verification(rt, a.id)
    send_verification(rt, b.id)
    assert [m.phone for m in sms.outbox] == [PHONE, OTHER]
    # A's code does not verify B's verification.
    assert not verify_code(b.id, sms.last_code(PHONE), runtime=rt).ok
    # The key still works for its own phone.
    again = request_code(PHONE, idempotency_key="form-1", runtime=rt)
    assert (again.id, again.created) == (a.id, False)


# --- resends ------------------------------------------------------------------------------------


def test_resends_count_against_the_per_ip_limit(redis_url: str, sms: InMemoryProvider) -> None:
    rt = runtime(redis_url, sms, OTP_IP_MAX_PER_HOUR=10, OTP_MAX_SENDS=50)
    ip = "192.0.2.10"
    ids = [sent(rt, f"+7900111{n:04d}", ip) for n in range(10)]
    assert refusal(lambda: request_code("+79001119999", client_ip=ip, runtime=rt)) == (
        "rate_limited"
    )
    # Before: resends ignored the IP, and one IP got 50 more SMS out this way.
    assert [resent(rt, i, client_ip=ip) for i in ids[:3]] == ["rate_limited"] * 3
    assert sms.calls == 10


def test_resends_count_against_the_per_phone_limits(redis_url: str, sms: InMemoryProvider) -> None:
    rt = runtime(redis_url, sms, OTP_PHONE_MAX_PER_HOUR=3, OTP_MAX_SENDS=50)
    verification = sent(rt)
    assert [resent(rt, verification) for _ in range(3)] == ["ok", "ok", "rate_limited"]
    assert refusal(lambda: request_code(PHONE, runtime=rt)) == "rate_limited"


def test_a_prefix_suspected_of_pumping_gets_no_sms_through_resends(
    redis_url: str, sms: InMemoryProvider
) -> None:
    rt = runtime(
        redis_url, sms, OTP_PUMPING_MIN_SENDS=3, OTP_PUMPING_MIN_CONVERSION=0.5,
        OTP_MAX_SENDS=50,
    )  # fmt: skip
    ids = [sent(rt, f"+7900222{n:04d}") for n in range(3)]  # none verifies: flagged
    assert refusal(lambda: request_code("+79002229999", runtime=rt)) == "rate_limited"
    assert [resent(rt, i) for i in ids] == ["rate_limited"] * 3
    assert sms.calls == 3
    assert read_stats(rt.store)["last_hour"]["refused"]["pumping"] == 4


def test_resends_are_counted_in_the_statistics(redis_url: str, sms: InMemoryProvider) -> None:
    rt = runtime(redis_url, sms, OTP_MAX_SENDS=2)
    verification = sent(rt)
    assert resent(rt, verification) == "ok"
    assert resent(rt, verification) == "rate_limited"  # the verification's own cap
    stats = read_stats(rt.store)["last_hour"]
    assert stats["sent"] == 2 and stats["countries"]["RU"]["sent"] == 2
    assert stats["refused"] == {"sends_per_verification": 1}


# --- API inputs ---------------------------------------------------------------------------------


def test_a_client_ip_that_is_not_a_string_is_a_type_error(
    redis_url: str, sms: InMemoryProvider
) -> None:
    rt = runtime(redis_url, sms)
    with pytest.raises(TypeError, match="client_ip"):
        request_code(PHONE, client_ip=3232235777, runtime=rt)  # type: ignore[arg-type]
    verification = sent(rt)
    with pytest.raises(TypeError, match="client_ip"):
        resend(verification, client_ip=b"10.0.0.1", runtime=rt)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="client_ip"):
        verify_code(verification, "123456", client_ip=["10.0.0.1"], runtime=rt)  # type: ignore[arg-type]


def test_verify_with_an_invalid_ip_compares_nothing(redis_url: str, sms: InMemoryProvider) -> None:
    rt = runtime(redis_url, sms)
    verification = sent(rt)
    result = verify_code(verification, sms.last_code(PHONE), client_ip="not-an-ip", runtime=rt)
    assert (result.ok, result.reason) == (False, "invalid_ip")
    assert get_status(verification, runtime=rt).attempts_left == 5  # no attempt spent
    assert verify_code(verification, sms.last_code(PHONE), runtime=rt).ok


def test_a_code_passed_as_int_never_burns_an_attempt(redis_url: str, sms: InMemoryProvider) -> None:
    rt = runtime(redis_url, sms)
    verification = sent(rt)
    with pytest.raises(TypeError, match="code"):
        verify_code(verification, int(sms.last_code(PHONE)), runtime=rt)  # type: ignore[arg-type]
    assert get_status(verification, runtime=rt).attempts_left == 5


# --- a broker outage gives back everything ------------------------------------------------------


def test_a_broker_outage_gives_back_every_count(redis_url: str, sms: InMemoryProvider) -> None:
    rt = runtime(
        redis_url, sms, OTP_PHONE_MAX_PER_HOUR=2, OTP_PUMPING_MIN_SENDS=3,
        OTP_PUMPING_MIN_CONVERSION=0.5,
    )  # fmt: skip
    dead = Celery(broker=f"redis://127.0.0.1:{refused_port()}/0")
    dead.conf.task_publish_retry_policy = {"max_retries": 0}
    down = Runtime(rt.settings, rt.store, task_queue=CeleryQueue(dead, max_countdown_seconds=25))
    for n in range(5):
        with pytest.raises(ServiceUnavailable, match=r"broker at 127\.0\.0\.1"):
            request_code(f"+7900333{n:04d}", idempotency_key="k", runtime=down)
    stats = read_stats(rt.store)["last_hour"]
    assert stats["sent"] == 0 and stats["countries"] == {"RU": {"sent": 0, "verified": 0,
                                                                "conversion": None}}  # fmt: skip
    keys = set(raw_redis(rt).scan_iter(match=rt.store.keys.prefix + "*"))
    assert not any(":v:" in k or ":idem:" in k for k in keys)  # no record, no key left
    # Nothing remembers those SMS: no limit spent, no pumping suspicion.
    results = [refusal(lambda n=n: request_code(f"+7900333{n:04d}", runtime=rt)) for n in range(2)]
    assert results == ["ok", "ok"]
    assert refusal(lambda: request_code("+79003330002", runtime=rt)) == "ok"


def test_a_resend_the_broker_refuses_gives_its_counts_back(
    redis_url: str, sms: InMemoryProvider
) -> None:
    rt = runtime(redis_url, sms, OTP_PHONE_MAX_PER_HOUR=2, OTP_MAX_SENDS=5)
    verification = sent(rt)
    dead = Celery(broker=f"redis://127.0.0.1:{refused_port()}/0")
    dead.conf.task_publish_retry_policy = {"max_retries": 0}
    down = Runtime(rt.settings, rt.store, task_queue=CeleryQueue(dead, max_countdown_seconds=25))
    for _ in range(3):
        with pytest.raises(ServiceUnavailable):
            resend(verification, runtime=down)
    status = get_status(verification, runtime=rt)
    assert (status.state, status.error, status.sends) == (
        "failed",
        {"code": "unavailable", "message": "not sent: the task queue was unavailable"},
        1,
    )
    assert resent(rt, verification) == "ok"  # the phone's second SMS of the hour
    assert read_stats(rt.store)["last_hour"]["sent"] == 2


# --- the queue is part of the runtime -----------------------------------------------------------


class RecordingQueue:
    """A ``TaskQueue`` that keeps what it was given (the interface, not our Celery code)."""

    def __init__(self) -> None:
        self.sends: list[str] = []

    def enqueue_send(self, verification_id: str) -> None:
        self.sends.append(verification_id)

    def enqueue_poll(self, marker: str, delay_seconds: float) -> None:
        raise AssertionError("the producer never queues polls")


def test_request_code_publishes_through_the_runtimes_queue(
    redis_url: str, sms: InMemoryProvider
) -> None:
    queue = RecordingQueue()
    base = runtime(redis_url, sms, OTP_MAX_SENDS=5)
    rt = Runtime(base.settings, base.store, task_queue=queue, sms_provider=sms)
    req = request_code(PHONE, runtime=rt)
    send_verification(rt, req.id)
    resend(req.id, runtime=rt)
    assert queue.sends == [req.id, req.id]
    assert raw_redis(rt).llen(SEND_QUEUE) == 0  # nothing went through the Celery app


def test_importing_the_api_gateway_or_sandbox_does_not_import_celery() -> None:
    code = (
        "import sys, worker, worker.providers.targetsms, worker.dev.sandbox, worker.api.producer\n"
        "print(sorted(m for m in sys.modules if m == 'celery' or m.startswith('celery.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
