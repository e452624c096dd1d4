"""Protecting the SMS budget and the codes: every limit at its boundary, the concurrency case,
step-up captcha against a local provider stand-in, a pumping simulation and a brute-force run.
Real Redis, real HTTP; nothing of ours is patched."""

from __future__ import annotations

import logging
import threading
from collections import Counter

import pytest
from gate_calls import PHONE, attempt, runtime
from helpers import FakeClock, make_settings, runtime_with_clock

from worker import RequestRefused, request_code, verify_code
from worker.ops.stats import read_stats
from worker.providers.memory import InMemoryProvider
from worker.steps.sending import send_verification

pytestmark = pytest.mark.usefixtures("drop_queued_messages")


@pytest.mark.parametrize(
    ("overrides", "phones", "ips"),
    [
        ({"OTP_PHONE_MAX_PER_HOUR": 3}, [PHONE] * 4, [None] * 4),
        ({"OTP_PHONE_MAX_PER_DAY": 3}, [PHONE] * 4, [None] * 4),
        ({"OTP_IP_MAX_PER_HOUR": 3}, [f"+7900100{n:04d}" for n in range(4)], ["192.0.2.1"] * 4),
        ({"OTP_IP_MAX_PER_DAY": 3}, [f"+7900200{n:04d}" for n in range(4)], ["192.0.2.2"] * 4),
        ({"OTP_PREFIX_MAX_PER_HOUR": 3}, [f"+7900300{n:04d}" for n in range(4)], [None] * 4),
        ({"OTP_MAX_SMS_PER_HOUR": 3}, [f"+79{n}04000000" for n in range(1, 5)], [None] * 4),
        ({"OTP_MAX_SMS_PER_DAY": 3}, [f"+79{n}05000000" for n in range(1, 5)], [None] * 4),
    ],
    ids=[
        "phone-hour",
        "phone-day",
        "ip-hour",
        "ip-day",
        "prefix-hour",
        "global-hour",
        "global-day",
    ],
)
def test_each_limit_at_its_exact_boundary(
    redis_url: str,
    sms: InMemoryProvider,
    caplog: pytest.LogCaptureFixture,
    overrides: dict[str, int],
    phones: list[str],
    ips: list[str | None],
) -> None:
    rt = runtime(redis_url, sms, **overrides)
    with caplog.at_level(logging.WARNING, logger="targetsms"):
        results = [attempt(rt, p, client_ip=ip) for p, ip in zip(phones, ips, strict=True)]
    assert results == ["ok", "ok", "ok", "rate_limited"]
    bucket = (
        next(iter(overrides))
        .removeprefix("OTP_")
        .lower()
        .replace("_max_per_", "_")
        .replace("max_sms_per_", "global_")
    )
    bucket = bucket.replace("prefix_hour", "prefix_hour")
    assert f"refused rate_limited ({bucket})" in caplog.text  # the log says which bucket
    assert read_stats(rt.store)["last_hour"]["refused"] == {bucket: 1}


SPELLINGS = ["+79001234567", "8 900 123-45-67", "900 123 45 67", "7 (900) 123-45-67"]


def test_every_spelling_of_a_number_counts_in_its_one_bucket(
    redis_url: str, sms: InMemoryProvider
) -> None:
    rt = runtime(redis_url, sms, OTP_PHONE_MAX_PER_HOUR=2)
    assert [attempt(rt, p) for p in SPELLINGS] == ["ok", "ok", "rate_limited", "rate_limited"]
    assert read_stats(rt.store)["last_hour"]["refused"] == {"phone_hour": 2}
    # The cooldown too: a second spelling right after the first is the same number's second SMS.
    rt = runtime(redis_url, sms, OTP_RESEND_COOLDOWN_SECONDS=60)
    assert [attempt(rt, p) for p in reversed(SPELLINGS)] == ["ok"] + ["rate_limited"] * 3
    # And an idempotency key names the number, not its spelling.
    rt = runtime(redis_url, sms)
    ids = {request_code(p, idempotency_key="form-1", runtime=rt).id for p in SPELLINGS}
    assert len(ids) == 1


def test_global_budget_logs_an_error(
    redis_url: str, sms: InMemoryProvider, caplog: pytest.LogCaptureFixture
) -> None:
    rt = runtime(redis_url, sms, OTP_MAX_SMS_PER_HOUR=1)
    assert attempt(rt, "+79001110000") == "ok"
    with caplog.at_level(logging.ERROR, logger="targetsms"):
        assert attempt(rt, "+79002220000") == "rate_limited"
    assert "SMS budget reached (global_hour)" in caplog.text


def test_windows_slide_and_retry_after_is_exact(redis_url: str, sms: InMemoryProvider) -> None:
    clock = FakeClock()
    rt = runtime_with_clock(make_settings(redis_url, OTP_RESEND_COOLDOWN_SECONDS=2), clock, sms)
    assert attempt(rt, PHONE) == "ok"
    clock.advance(1.0)
    with pytest.raises(RequestRefused) as info:
        request_code(PHONE, runtime=rt)
    assert info.value.code == "rate_limited" and info.value.retry_after == 1
    assert info.value.message == "too many requests; try again later"  # generic
    clock.advance(0.999)
    assert attempt(rt, PHONE) == "rate_limited"  # exact to the millisecond
    clock.advance(0.001)
    assert attempt(rt, PHONE) == "ok"


def test_ipv6_is_counted_per_64(redis_url: str, sms: InMemoryProvider) -> None:
    rt = runtime(redis_url, sms, OTP_IP_MAX_PER_HOUR=2)
    same_64 = ["2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "2001:db8:1:2::abcd"]
    phones = [f"+7900400{n:04d}" for n in range(4)]
    results = [attempt(rt, p, client_ip=ip) for p, ip in zip(phones, same_64, strict=False)]
    assert results == ["ok", "ok", "rate_limited"]
    assert attempt(rt, phones[3], client_ip="2001:db8:1:3::1") == "ok"  # another /64
    assert attempt(rt, phones[3][:-1] + "9", client_ip="not-an-ip") == "invalid_ip"


def test_200_simultaneous_requests_for_one_phone_give_one_sms(
    redis_url: str, sms: InMemoryProvider
) -> None:
    rt = runtime(redis_url, sms, OTP_RESEND_COOLDOWN_SECONDS=60)
    barrier = threading.Barrier(200)
    results: list[str] = []
    ids: list[str] = []
    lock = threading.Lock()

    def one() -> None:
        barrier.wait()
        try:
            req = request_code(PHONE, runtime=rt)
        except RequestRefused as exc:
            outcome = exc.code
        else:
            outcome = "ok"
            with lock:
                ids.append(req.id)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=one) for _ in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Counter(results) == {"ok": 1, "rate_limited": 199}
    assert send_verification(rt, ids[0]).result == "sent"
    assert len([m for m in sms.outbox if m.phone == PHONE]) == 1


def test_pumping_flags_a_prefix_that_never_verifies(
    redis_url: str, sms: InMemoryProvider, caplog: pytest.LogCaptureFixture
) -> None:
    rt = runtime(redis_url, sms, OTP_PUMPING_MIN_SENDS=5, OTP_PUMPING_MIN_CONVERSION=0.5)
    with caplog.at_level(logging.WARNING, logger="targetsms"):
        results = [attempt(rt, f"+7900800{n:04d}") for n in range(7)]
    assert results == ["ok"] * 5 + ["rate_limited"] * 2  # captcha off: refused
    assert "pumping suspected" in caplog.text
    assert "refused rate_limited (pumping)" in caplog.text
    assert attempt(rt, "+79008010000") == "ok"  # another prefix is not affected
    # A prefix whose users do verify is never flagged.
    for n in range(8):
        phone = f"+7900900{n:04d}"
        req = request_code(phone, runtime=rt)
        send_verification(rt, req.id)
        assert verify_code(req.id, sms.last_code(phone), runtime=rt).ok
    stats = read_stats(rt.store)["last_hour"]
    assert stats["verified"] == 8 and stats["countries"]["RU"]["sent"] == 14


def test_pumping_simulation_against_the_default_limits(
    redis_url: str, sms: InMemoryProvider
) -> None:
    """2,000 requests over 1,000 prefixes from 500 IPs, with the shipped defaults: twice the
    hourly budget, while no prefix (2 each) or IP (4 each) comes near its own limit."""
    defaults = {
        "OTP_PHONE_MAX_PER_HOUR": 5, "OTP_PHONE_MAX_PER_DAY": 10, "OTP_IP_MAX_PER_HOUR": 10,
        "OTP_IP_MAX_PER_DAY": 50, "OTP_PREFIX_MAX_PER_HOUR": 20, "OTP_MAX_SMS_PER_HOUR": 1000,
        "OTP_MAX_SMS_PER_DAY": 10000, "OTP_PUMPING_MIN_SENDS": 20,
        "OTP_RESEND_COOLDOWN_SECONDS": 60,
    }  # fmt: skip
    rt = runtime(redis_url, sms, **defaults)
    outcomes: Counter[str] = Counter()
    for n in range(2_000):
        prefix, ip = n % 1000, n % 500
        phone = f"+7{901 + prefix // 100}{prefix % 100:03d}{n // 1000:04d}"
        outcomes[attempt(rt, phone, client_ip=f"10.{ip // 250}.{ip % 250}.1")] += 1
    print(f"\npumping simulation, default limits: {dict(outcomes)}")
    # The hourly budget is what stops this attack: exactly that many SMS, the rest refused.
    assert outcomes == {"ok": rt.settings.limits.max_sms_per_hour, "rate_limited": 1_000}
