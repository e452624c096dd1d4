"""Every SMS passes one gate: the holes an outside review found, each closed.

Requests and resends go through the producer API on a real Redis; sends go through the worker's
plain function against the in-memory provider; the broker is a real Redis (or a dead port).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from captcha_standin import SECRET, StandIn, token
from celery import Celery
from helpers import make_settings, raw_redis

from worker import (
    RequestRefused,
    ServiceUnavailable,
    get_status,
    request_code,
    resend,
    verify_code,
)
from worker.dev.devstack import free_port
from worker.ops.stats import read_stats
from worker.providers.memory import InMemoryProvider
from worker.queue.celery_app import CeleryQueue
from worker.queue.names import POLL_QUEUE, SEND_QUEUE
from worker.runtime import Runtime
from worker.settings import Settings, SettingsError
from worker.steps.sending import send_verification

PHONE = "+79001234567"
OTHER = "+79001234568"


@pytest.fixture(autouse=True)
def drop_queued_messages(redis_url: str) -> Iterator[None]:
    """These tests queue sends that no worker takes; leave the broker clean for the next."""
    yield
    import redis

    redis.Redis.from_url(redis_url).delete(SEND_QUEUE, POLL_QUEUE)


def runtime(redis_url: str, sms: InMemoryProvider, **overrides: object) -> Runtime:
    return Runtime.from_settings(make_settings(redis_url, **overrides), provider=sms)


def refusal(call: object) -> str:
    """The refusal code of ``call()``, or 'ok'."""
    try:
        call()  # type: ignore[operator]
    except RequestRefused as exc:
        return exc.code
    return "ok"


def sent(rt: Runtime, phone: str = PHONE, ip: str | None = None) -> str:
    req = request_code(phone, client_ip=ip, runtime=rt)
    assert send_verification(rt, req.id).result == "sent"
    return req.id


def resent(rt: Runtime, verification_id: str, **kwargs: object) -> str:
    """Resend and send; 'ok' or the refusal code."""
    code = refusal(lambda: resend(verification_id, runtime=rt, **kwargs))
    if code == "ok":
        assert send_verification(rt, verification_id).result == "sent"
    return code


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


def test_resends_obey_the_deny_list_and_the_country_policy(
    redis_url: str, sms: InMemoryProvider
) -> None:
    rt = runtime(redis_url, sms, OTP_MAX_SENDS=50)
    verification = sent(rt)
    rt.store.deny_add("+7900123")
    assert resent(rt, verification) == "phone_not_allowed"
    rt.store.deny_remove("+7900123")
    assert resent(rt, verification) == "ok"
    closed = Runtime(rt.settings.replace(OTP_ALLOWED_COUNTRIES=("KZ",)), rt.store, sms_provider=sms)
    assert resent(closed, verification) == "country_not_allowed"
    denied = Runtime(rt.settings.replace(OTP_DENY_PREFIXES=("+79",)), rt.store, sms_provider=sms)
    assert resent(denied, verification) == "phone_not_allowed"


def test_resends_need_the_captcha_like_requests(redis_url: str, sms: InMemoryProvider) -> None:
    with StandIn() as provider:
        rt = runtime(
            redis_url, sms, CAPTCHA_MODE="always", CAPTCHA_PROVIDER="yandex",
            CAPTCHA_SECRET=SECRET, CAPTCHA_VERIFY_URL=provider.url("yandex"),
        )  # fmt: skip
        req = request_code(PHONE, captcha_token=token("good"), runtime=rt)
        send_verification(rt, req.id)
        assert resent(rt, req.id) == "captcha_required"
        assert resent(rt, req.id, captcha_token=token("bad")) == "captcha_failed"
        assert resent(rt, req.id, captcha_token=token("good")) == "ok"


def test_resends_step_up_to_a_captcha_on_unusual_ip_volume(
    redis_url: str, sms: InMemoryProvider
) -> None:
    with StandIn() as provider:
        rt = runtime(
            redis_url, sms, CAPTCHA_MODE="step_up", CAPTCHA_PROVIDER="turnstile",
            CAPTCHA_SECRET=SECRET, CAPTCHA_VERIFY_URL=provider.url("turnstile"),
            OTP_STEP_UP_IP_PER_HOUR=2, OTP_MAX_SENDS=50,
        )  # fmt: skip
        ip = "203.0.113.60"
        verification = sent(rt, PHONE, ip)
        assert resent(rt, verification, client_ip=ip) == "ok"
        assert resent(rt, verification, client_ip=ip) == "captcha_required"
        good = token("good")
        assert resent(rt, verification, client_ip=ip, captcha_token=good) == "ok"


def test_resends_are_counted_in_the_statistics(redis_url: str, sms: InMemoryProvider) -> None:
    rt = runtime(redis_url, sms, OTP_MAX_SENDS=2)
    verification = sent(rt)
    assert resent(rt, verification) == "ok"
    assert resent(rt, verification) == "rate_limited"  # the verification's own cap
    stats = read_stats(rt.store)["last_hour"]
    assert stats["sent"] == 2 and stats["countries"]["RU"]["sent"] == 2
    assert stats["refused"] == {"sends_per_verification": 1}


# --- lockouts -----------------------------------------------------------------------------------


def test_nobody_can_lock_the_owner_out(redis_url: str, sms: InMemoryProvider) -> None:
    """An attacker requests SMS for the owner's phone and guesses wrong 10 times; the owner's
    right code, on a verification whose SMS they received, still verifies."""
    rt = runtime(redis_url, sms)
    attacker, owner = "198.51.100.1", "203.0.113.1"
    for _ in range(2):
        verification = sent(rt, PHONE, attacker)
        for _ in range(5):
            verify_code(verification, "000000", client_ip=attacker, runtime=rt)
    # Guessing stays bounded for the attacker: a third SMS gives no more guesses.
    third = sent(rt, PHONE, attacker)
    assert verify_code(third, "000000", client_ip=attacker, runtime=rt).reason == "rate_limited"
    # Before: the owner's right code answered rate_limited for an hour.
    mine = sent(rt, PHONE, owner)
    assert verify_code(mine, sms.last_code(PHONE), client_ip=owner, runtime=rt).ok


# --- one deny list ------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["+7", "+79", "+7900", "+79001234567"])
def test_the_deny_list_matches_from_the_country_code_up(
    redis_url: str, sms: InMemoryProvider, prefix: str
) -> None:
    rt = runtime(redis_url, sms)
    rt.store.deny_add(prefix)  # what `targetsms block PREFIX` stores
    assert refusal(lambda: request_code(PHONE, runtime=rt)) == "phone_not_allowed"
    from_settings = runtime(redis_url, sms, OTP_DENY_PREFIXES=(prefix,))
    assert refusal(lambda: request_code(PHONE, runtime=from_settings)) == "phone_not_allowed"


def test_a_deny_prefix_is_plus_and_ascii_digits_only(redis_url: str, sms: InMemoryProvider) -> None:
    from worker.core.phone import deny_prefix

    assert deny_prefix("+7 999-12") == "+799912"
    for junk in ("+٧٩٩٩", "7999", "+", "+7a", "+1234567890123456"):
        with pytest.raises(ValueError):
            deny_prefix(junk)
    env = {**make_settings(redis_url).to_env(), "OTP_DENY_PREFIXES": "+7,+٧٩٩٩"}
    with pytest.raises(SettingsError, match="OTP_DENY_PREFIXES"):
        Settings.from_env(env)


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
    dead = Celery(broker=f"redis://127.0.0.1:{free_port()}/0")
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
    dead = Celery(broker=f"redis://127.0.0.1:{free_port()}/0")
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


def test_guesses_per_phone_per_hour_are_bounded_by_its_sms(
    redis_url: str, sms: InMemoryProvider
) -> None:
    """The README's figure: at most OTP_PHONE_MAX_PER_HOUR x OTP_MAX_ATTEMPTS wrong codes per
    phone per hour (5 x 5 = 25 with the defaults), however many IPs the guesses come from."""
    rt = runtime(redis_url, sms, OTP_PHONE_MAX_PER_HOUR=5, OTP_MAX_SENDS=5)
    compared = 0
    for n in range(50):
        ip = f"198.51.100.{n + 1}"
        try:
            verification = sent(rt, PHONE, ip)
        except RequestRefused as exc:
            assert exc.code == "rate_limited"
            continue
        while True:  # guess until locked, resend, again, until the phone's SMS run out
            for _ in range(10):
                reason = verify_code(verification, "000000", client_ip=ip, runtime=rt).reason
                compared += reason in ("wrong", "locked")  # a comparison was made
                if reason != "wrong":
                    break
            if resent(rt, verification, client_ip=ip) != "ok":
                break
    assert compared == 25
