"""The producer API and the plain send function, in-process against real Redis and the
in-memory provider (the worker-process path is in test_pipeline.py, polling in test_polling.py)."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest
from helpers import FakeClock, make_settings, raw_redis, refused_port, runtime_with_clock

from worker import (
    RequestRefused,
    ServiceUnavailable,
    VerificationNotFound,
    cancel,
    get_status,
    request_code,
    resend,
    verify_code,
)
from worker.providers.memory import InMemoryProvider
from worker.runtime import Runtime
from worker.steps.sending import send_verification

PHONE = "+79001234567"


@pytest.fixture
def rt(redis_url: str, sms: InMemoryProvider) -> Runtime:
    return Runtime.from_settings(
        make_settings(redis_url, OTP_RESEND_COOLDOWN_SECONDS=60), provider=sms
    )


def sent(rt: Runtime, phone: str = PHONE) -> str:
    req = request_code(phone, runtime=rt)
    assert send_verification(rt, req.id).result == "sent"
    return req.id


def test_refusals_are_clear_and_generic(rt: Runtime) -> None:
    with pytest.raises(RequestRefused) as info:
        request_code("8 900 123", runtime=rt)
    assert info.value.code == "invalid_phone"
    with pytest.raises(RequestRefused) as info:
        request_code("+77012345678", runtime=rt)  # Kazakhstan, not in OTP_ALLOWED_COUNTRIES
    assert info.value.code == "country_not_allowed"
    request_code(PHONE, runtime=rt)
    with pytest.raises(RequestRefused) as info:
        request_code(PHONE, runtime=rt)
    assert info.value.code == "rate_limited"
    assert info.value.retry_after is not None and 0 < info.value.retry_after <= 60
    assert "cooldown" not in info.value.message and "phone" not in info.value.message


def test_idempotency_key_returns_the_same_verification(rt: Runtime) -> None:
    first = request_code(PHONE, idempotency_key="form-123", runtime=rt)
    again = request_code(PHONE, idempotency_key="form-123", runtime=rt)
    assert (again.id, again.created, again.state) == (first.id, False, "queued")
    assert send_verification(rt, first.id).result == "sent"
    # A replay answers the record's own state, never a pseudo-state.
    assert request_code(PHONE, idempotency_key="form-123", runtime=rt).state == "sent"


def test_verify_outcomes_before_and_after_sending(rt: Runtime, sms: InMemoryProvider) -> None:
    assert verify_code("x" * 22, "123456", runtime=rt).reason == "unknown"
    assert verify_code("../../etc", "123456", runtime=rt).reason == "unknown"
    req = request_code(PHONE, runtime=rt)
    assert verify_code(req.id, "123456", runtime=rt).reason == "not_sent_yet"
    assert send_verification(rt, req.id).result == "sent"
    code = sms.last_code(PHONE)
    spaced = f"{code[:3]} {code[3:]}"
    assert verify_code(req.id, spaced, runtime=rt).ok  # people paste codes with spaces
    record = raw_redis(rt).hgetall(rt.store.keys.record(req.id))
    assert code not in str(record) and "code_hmac" not in record  # single use: digest dropped


def test_verify_result_names_the_proved_phone_only_when_ok(
    rt: Runtime, sms: InMemoryProvider, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="targetsms"):
        verification = sent(rt, "8 900 123-45-67")  # a national spelling: the same number
        code = sms.last_code(PHONE)
        wrong = verify_code(verification, "000000" if code != "000000" else "111111", runtime=rt)
        assert (wrong.ok, wrong.phone) == (False, None)
        status = get_status(verification, runtime=rt)
        assert status.phone == PHONE
        result = verify_code(verification, code, runtime=rt)
        assert (result.ok, result.phone) == (True, PHONE)
        again = verify_code(verification, code, runtime=rt)
        assert (again.reason, again.phone) == ("already_used", None)
    shown = repr(result) + repr(status) + json.dumps(status.as_dict())
    assert "9001234567" not in shown, shown
    assert "verify" in caplog.text and "9001234567" not in caplog.text


def test_send_is_idempotent_and_locked_against_parallel_workers(
    rt: Runtime, sms: InMemoryProvider
) -> None:
    req = request_code(PHONE, runtime=rt)
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(send_verification(rt, req.id).result))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("sent") == 1
    assert set(results) <= {"sent", "busy", "skipped"}
    assert send_verification(rt, req.id).result == "skipped"
    assert sms.calls == 1


def test_stored_record_holds_only_the_hmac(rt: Runtime, sms: InMemoryProvider) -> None:
    verification = sent(rt)
    code = sms.last_code(PHONE)
    record = raw_redis(rt).hgetall(rt.store.keys.record(verification))
    assert len(record["code_hmac"]) == 64 and code not in record.values()


def test_resend_new_code_and_max_sends(redis_url: str, sms: InMemoryProvider) -> None:
    rt = Runtime.from_settings(make_settings(redis_url, OTP_MAX_SENDS=2), provider=sms)
    verification = sent(rt)
    old = sms.last_code(PHONE)
    assert resend(verification, runtime=rt).state == "queued"
    assert verify_code(verification, old, runtime=rt).reason == "not_sent_yet"
    assert send_verification(rt, verification).result == "sent"
    new = sms.last_code(PHONE)
    if new != old:
        assert verify_code(verification, old, runtime=rt).reason == "wrong"
    with pytest.raises(RequestRefused) as info:
        resend(verification, runtime=rt)
    assert info.value.code == "rate_limited"
    assert verify_code(verification, new, runtime=rt).ok
    with pytest.raises(RequestRefused) as info:
        resend(verification, runtime=rt)
    assert info.value.code == "not_allowed"


def test_cancel(rt: Runtime, sms: InMemoryProvider) -> None:
    verification = sent(rt)
    assert cancel(verification, runtime=rt)
    assert verify_code(verification, sms.last_code(PHONE), runtime=rt).reason == "canceled"
    assert get_status(verification, runtime=rt).state == "canceled"
    with pytest.raises(VerificationNotFound):
        cancel("y" * 22, runtime=rt)


def test_every_key_has_a_ttl(rt: Runtime, sms: InMemoryProvider) -> None:
    verification = sent(rt)
    verify_code(verification, "000000", runtime=rt)
    request_code("+79001230000", client_ip="2001:db8::1", idempotency_key="k", runtime=rt)
    keys = list(raw_redis(rt).scan_iter(match=rt.store.keys.prefix + "*"))
    assert len(keys) >= 8
    # The all-time counters only grow: the one key here without a TTL (the deny list is the other).
    assert [key for key in keys if raw_redis(rt).pttl(key) <= 0] == [rt.store.keys.totals]


def test_redis_down_is_a_clear_error(sms: InMemoryProvider) -> None:
    settings = make_settings(f"redis://127.0.0.1:{refused_port()}/0")
    rt = Runtime.from_settings(settings, provider=sms)
    with pytest.raises(ServiceUnavailable):
        request_code(PHONE, runtime=rt)
    with pytest.raises(ServiceUnavailable):
        verify_code("z" * 22, "123456", runtime=rt)


def test_keys_do_not_contain_phone_numbers_or_ips(rt: Runtime) -> None:
    request_code(PHONE, client_ip="203.0.113.9", runtime=rt)
    keys = " ".join(raw_redis(rt).scan_iter(match=rt.store.keys.prefix + "*"))
    assert "9001234567" not in keys and "203.0.113.9" not in keys


def test_settings_copy_is_independent(rt: Runtime) -> None:
    other = rt.settings.replace(OTP_REDIS_PREFIX="other:")
    assert other.redis_prefix != rt.settings.redis_prefix


def test_state_changes_are_published(rt: Runtime, sms: InMemoryProvider) -> None:
    pubsub = raw_redis(rt).pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(rt.store.keys.events)
    verification = sent(rt)
    assert verify_code(verification, sms.last_code(PHONE), runtime=rt).ok
    events = []
    deadline = time.monotonic() + 5
    while len(events) < 4 and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.5)
        if message:
            events.append(json.loads(message["data"]))
    pubsub.close()
    assert [e["event"] for e in events] == ["queued", "sending", "sent", "verified"]
    assert all(e["id"] == verification for e in events)
    assert events[2]["delivery_status"] == "send" and events[3]["state"] == "verified"
    assert PHONE not in json.dumps(events)


def test_a_send_lost_before_its_deadline_can_be_resent(
    redis_url: str, sms: InMemoryProvider
) -> None:
    clock = FakeClock()
    rt = runtime_with_clock(make_settings(redis_url, OTP_SEND_DEADLINE_SECONDS=1), clock, sms)
    req = request_code(PHONE, runtime=rt)  # imagine its message never reaches a worker
    clock.advance(0.999)
    assert resend(req.id, runtime=rt).created is False  # still in flight
    clock.advance(0.001)
    assert resend(req.id, runtime=rt).created is True
    assert send_verification(rt, req.id).result == "sent"
    assert verify_code(req.id, sms.last_code(PHONE), runtime=rt).ok
