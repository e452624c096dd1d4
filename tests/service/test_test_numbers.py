"""OTP_TEST_NUMBERS: a listed number gets its fixed code and no SMS. Real Redis, the in-memory
provider (which would record any SMS), the exporter's totals and the settings check."""

from __future__ import annotations

import logging

import pytest
from helpers import make_settings, raw_redis

from worker import RequestRefused, get_status, request_code, verify_code
from worker.providers.memory import InMemoryProvider
from worker.runtime import Runtime
from worker.settings import Settings, SettingsError
from worker.steps.sending import send_verification

TEST_PHONE = "+12125550123"  # NANP 555-01XX: reserved for fictitious use
FIXED = "424242"
REAL_PHONE = "+79001234567"


@pytest.fixture
def rt(redis_url: str, sms: InMemoryProvider) -> Runtime:
    settings = make_settings(
        redis_url,
        OTP_ALLOWED_COUNTRIES=("RU", "US"),
        OTP_TEST_NUMBERS=(f"{TEST_PHONE}:{FIXED}",),
        OTP_PHONE_MAX_PER_HOUR=2,
    )
    return Runtime.from_settings(settings, provider=sms)


def test_a_test_number_gets_its_fixed_code_with_no_sms_and_is_logged_by_pseudonym(
    rt: Runtime, sms: InMemoryProvider, caplog: pytest.LogCaptureFixture
) -> None:
    req = request_code(TEST_PHONE, runtime=rt)
    with caplog.at_level(logging.INFO, logger="targetsms.send"):
        assert send_verification(rt, req.id).result == "sent"
    assert sms.calls == 0 and sms.outbox == []  # the provider was never called
    status = get_status(req.id, runtime=rt)
    assert status.state == "sent" and status.delivery_status == "deliver"  # nothing to poll
    assert verify_code(req.id, "000000", runtime=rt).reason == "wrong"
    assert verify_code(req.id, FIXED, runtime=rt).ok
    lines = [r.getMessage() for r in caplog.records if "test number" in r.getMessage()]
    assert len(lines) == 1 and TEST_PHONE not in lines[0] and "5550123" not in lines[0]
    totals = rt.store.totals()
    assert totals.get("test_number_sends") == "1" and "sms_sent" not in totals


def test_a_real_number_beside_it_still_gets_an_sms_and_the_totals_say_which(
    rt: Runtime, sms: InMemoryProvider
) -> None:
    send_verification(rt, request_code(TEST_PHONE, runtime=rt).id)
    real = request_code(REAL_PHONE, runtime=rt)
    send_verification(rt, real.id)
    assert [m.phone for m in sms.outbox] == [REAL_PHONE]
    assert verify_code(real.id, sms.last_code(REAL_PHONE), runtime=rt).ok
    totals = rt.store.totals()
    assert (totals["test_number_sends"], totals["sms_sent"]) == ("1", "1")


def test_the_gate_still_counts_a_test_number(rt: Runtime) -> None:
    for _ in range(2):
        request_code(TEST_PHONE, runtime=rt)
    with pytest.raises(RequestRefused) as refused:
        request_code(TEST_PHONE, runtime=rt)
    assert refused.value.code == "rate_limited"


def test_the_exporter_serves_the_count(rt: Runtime) -> None:
    from worker.ops.metrics.families import Families
    from worker.ops.metrics.totals import fill_totals

    send_verification(rt, request_code(TEST_PHONE, runtime=rt).id)
    families = Families.new()
    fill_totals(families, rt.store.totals())
    [sample] = families.test_number_sends.samples
    assert (sample.name, sample.value) == ("targetsms_test_number_sends_total", 1.0)


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (f"{REAL_PHONE}:{FIXED}", "entry 1 is outside the ranges reserved for testing"),
        (f"{TEST_PHONE}:42", "entry 1: the code must be 6 digits"),
        (f"{TEST_PHONE}", "entry 1 must be <phone>:<code>"),
        (f"+7abc:{FIXED}", "entry 1 must be <phone>:<code>"),
    ],
)
def test_a_bad_entry_is_refused_at_load_without_repeating_the_number(
    rt: Runtime, entry: str, problem: str
) -> None:
    env = rt.settings.to_env() | {"OTP_TEST_NUMBERS": entry}
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    found = " | ".join(p for p in caught.value.problems if p.startswith("OTP_TEST_NUMBERS"))
    assert problem in found and REAL_PHONE not in found and TEST_PHONE not in found


def test_a_number_outside_the_reserved_ranges_needs_the_explicit_override(rt: Runtime) -> None:
    env = rt.settings.to_env() | {"OTP_TEST_NUMBERS": f"{REAL_PHONE}:{FIXED}"}
    settings = Settings.from_env(env | {"OTP_TEST_NUMBERS_OUTSIDE_RESERVED": "1"})
    assert settings.test_codes == {REAL_PHONE: FIXED}


def test_off_by_default(redis_url: str) -> None:
    settings = make_settings(redis_url)
    assert settings.test_codes == {} and settings.abuse.test_numbers_outside_reserved is False
    assert "test_number_sends" not in raw_redis(Runtime.from_settings(settings)).hgetall(
        Runtime.from_settings(settings).store.keys.totals
    )
