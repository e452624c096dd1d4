"""The captcha in the gate: always, or stepped up on unusual IP volume, for requests and resends
alike, against a local stand-in of the captcha providers (real HTTP)."""

from __future__ import annotations

import pytest
from captcha_standin import SECRET, StandIn, token
from gate_calls import PHONE, attempt, resent, runtime, sent

from worker import request_code
from worker.ops.stats import read_stats
from worker.providers.memory import InMemoryProvider
from worker.steps.sending import send_verification

pytestmark = pytest.mark.usefixtures("drop_queued_messages")


def test_captcha_always_and_failures(redis_url: str, sms: InMemoryProvider) -> None:
    with StandIn() as provider:
        rt = runtime(
            redis_url, sms, CAPTCHA_MODE="always", CAPTCHA_PROVIDER="yandex",
            CAPTCHA_SECRET=SECRET, CAPTCHA_VERIFY_URL=provider.url("yandex"),
            CAPTCHA_TIMEOUT_SECONDS=0.3,
        )  # fmt: skip
        assert attempt(rt, "+79001110001") == "captcha_required"
        assert attempt(rt, "+79001110001", captcha_token=token("bad")) == "captcha_failed"
        assert attempt(rt, "+79001110001", captcha_token=token("slow")) == "captcha_failed"
        assert attempt(rt, "+79001110001", captcha_token=token("good")) == "ok"
        sent_params = provider.received[-1].form
        assert sent_params["secret"] == SECRET and sent_params["token"].startswith("good.")
        stats = read_stats(rt.store)["last_hour"]["refused"]
        assert stats == {"captcha_required": 1, "captcha_invalid": 1, "captcha_timeout": 1}


def test_captcha_step_up_on_unusual_ip_volume(redis_url: str, sms: InMemoryProvider) -> None:
    with StandIn() as provider:
        rt = runtime(
            redis_url, sms, CAPTCHA_MODE="step_up", CAPTCHA_PROVIDER="turnstile",
            CAPTCHA_SECRET=SECRET, CAPTCHA_VERIFY_URL=provider.url("turnstile"),
            OTP_STEP_UP_IP_PER_HOUR=2,
        )  # fmt: skip
        ip = "203.0.113.50"
        phones = [f"+7900700{n:04d}" for n in range(4)]
        results = [attempt(rt, p, client_ip=ip) for p in phones[:3]]
        assert results == ["ok", "ok", "captcha_required"]
        assert attempt(rt, phones[2], client_ip="203.0.113.51") == "ok"  # a normal client
        good = attempt(rt, phones[3], client_ip=ip, captcha_token=token("good"))
        assert good == "ok"


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
