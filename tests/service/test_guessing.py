"""Guessing codes: comparisons per verification, wrong codes per phone and per IP across
verifications, the README's bound per phone per hour, and no lockout of the phone's owner."""

from __future__ import annotations

from collections import Counter

import pytest
from gate_calls import PHONE, resent, runtime, sent
from helpers import raw_redis

from worker import RequestRefused, request_code, verify_code
from worker.providers.memory import InMemoryProvider
from worker.steps.sending import send_verification

pytestmark = pytest.mark.usefixtures("drop_queued_messages")


def test_brute_force_gets_at_most_max_attempts_comparisons(
    redis_url: str, sms: InMemoryProvider
) -> None:
    rt = runtime(redis_url, sms, OTP_VERIFY_MAX_PER_PHONE_PER_HOUR=0)
    req = request_code(PHONE, runtime=rt)
    send_verification(rt, req.id)
    real = sms.last_code(PHONE)
    reasons: Counter[str] = Counter()
    for guess in range(1_000):  # a hundred times the attempts: enough to show the lock holds
        candidate = f"{guess:06d}"
        if candidate == real:
            continue
        reasons[verify_code(req.id, candidate, runtime=rt).reason] += 1
    compares = int(raw_redis(rt).hget(rt.store.keys.record(req.id), "compares") or 0)
    print(f"\nbrute force: 1,000 guesses -> {compares} comparisons, outcomes {dict(reasons)}")
    assert compares == rt.settings.codes.max_attempts
    assert reasons["wrong"] == rt.settings.codes.max_attempts - 1 and reasons["locked"] >= 990
    assert verify_code(req.id, real, runtime=rt).reason == "locked"


def test_wrong_codes_count_per_phone_and_per_ip_across_verifications(
    redis_url: str, sms: InMemoryProvider
) -> None:
    rt = runtime(
        redis_url, sms, OTP_VERIFY_MAX_PER_PHONE_PER_HOUR=4, OTP_VERIFY_MAX_PER_IP_PER_HOUR=6
    )

    def fresh(phone: str) -> str:
        req = request_code(phone, runtime=rt)
        send_verification(rt, req.id)
        return req.id

    # Per phone: rotating verifications does not multiply guesses.
    a, b = fresh(PHONE), fresh(PHONE)
    reasons = [verify_code(v, "000000", runtime=rt).reason for v in (a, a, b, b, b)]
    assert reasons == ["wrong", "wrong", "wrong", "wrong", "rate_limited"]
    c = fresh(PHONE)
    limited = verify_code(c, sms.last_code(PHONE), runtime=rt)
    assert limited.reason == "rate_limited" and limited.retry_after is not None
    assert 0 < limited.retry_after <= 3600  # the lockout ends by itself
    # Per IP: one client guessing across many phones.
    ids = [fresh(f"+7900600{n:04d}") for n in range(7)]
    ip = "198.51.100.77"
    got = [verify_code(v, "000000", client_ip=ip, runtime=rt).reason for v in ids]
    assert got == ["wrong"] * 6 + ["rate_limited"]


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
