"""Rotating OTP_SECRET_KEY: limits carry on, codes in flight still verify, nothing else does."""

from __future__ import annotations

import secrets

import pytest
from helpers import make_settings

from worker import RequestRefused, request_code, verify_code
from worker.providers.memory import InMemoryProvider
from worker.runtime import Runtime
from worker.steps.sending import send_verification

PHONE = "+79001234567"


@pytest.fixture
def old(redis_url: str, sms: InMemoryProvider) -> Runtime:
    return Runtime.from_settings(make_settings(redis_url, OTP_PHONE_MAX_PER_HOUR=2), provider=sms)


def rotated(old: Runtime, **extra: str) -> Runtime:
    """The same deployment (Redis, prefix, limits, provider) with a new OTP_SECRET_KEY."""
    settings = old.settings.replace(OTP_SECRET_KEY=secrets.token_urlsafe(32), **extra)
    assert settings.problems() == []
    return Runtime.from_settings(settings, provider=old.provider)


def test_rotation_keeps_limit_windows_and_idempotency_with_the_pseudonym_key(old: Runtime) -> None:
    first = request_code(PHONE, idempotency_key="form-1", runtime=old)
    request_code(PHONE, runtime=old)  # the phone's hourly limit (2) is used up
    old_key = old.settings.codes.secret_key

    new = rotated(old, OTP_PSEUDONYM_KEY=old_key, OTP_SECRET_KEY_PREVIOUS=old_key)
    with pytest.raises(RequestRefused) as info:
        request_code(PHONE, runtime=new)
    assert info.value.code == "rate_limited"  # the same window, counted under the new key
    again = request_code(PHONE, idempotency_key="form-1", runtime=new)
    assert (again.id, again.created) == (first.id, False)

    # What rotating without OTP_PSEUDONYM_KEY does: every limit window starts again.
    reset = rotated(old, OTP_SECRET_KEY_PREVIOUS=old_key)
    assert request_code(PHONE, runtime=reset).created


def test_a_code_sent_under_the_old_key_verifies_with_the_previous_key(
    old: Runtime, sms: InMemoryProvider
) -> None:
    old_key = old.settings.codes.secret_key
    req = request_code(PHONE, runtime=old)
    assert send_verification(old, req.id).result == "sent"  # stored by a not yet restarted worker
    code = sms.last_code(PHONE)

    without = rotated(old, OTP_PSEUDONYM_KEY=old_key)
    assert verify_code(req.id, code, runtime=without).reason == "wrong"  # no previous key: lost

    new = rotated(old, OTP_PSEUDONYM_KEY=old_key, OTP_SECRET_KEY_PREVIOUS=old_key)
    wrong = "000000" if code != "000000" else "111111"
    # A wrong code still costs one attempt, however many keys it is compared under.
    assert verify_code(req.id, wrong, runtime=new).attempts_left == 3
    ok = verify_code(req.id, code, runtime=new)
    assert (ok.ok, ok.attempts_left) == (True, 3)


def test_a_code_sent_under_the_new_key_verifies_on_a_rotated_producer(
    old: Runtime, sms: InMemoryProvider
) -> None:
    old_key = old.settings.codes.secret_key
    new = rotated(old, OTP_PSEUDONYM_KEY=old_key, OTP_SECRET_KEY_PREVIOUS=old_key)
    req = request_code(PHONE, runtime=new)
    assert send_verification(new, req.id).result == "sent"
    code = sms.last_code(PHONE)
    assert verify_code(req.id, code, runtime=old).reason == "wrong"  # the old key alone: no
    assert verify_code(req.id, code, runtime=new).ok
