"""``targetsms stats`` (worker.ops.stats): what the Lua steps counted, summed over the last hour
and the last day, by country, with conversion and refusals. Real Redis on a ``FakeClock``."""

from __future__ import annotations

from gate_calls import attempt
from helpers import FakeClock, make_settings, runtime_with_clock

from worker import request_code, verify_code
from worker.ops.stats import read_stats
from worker.providers.memory import InMemoryProvider
from worker.steps.sending import send_verification


def test_sends_verifications_and_refusals_leave_the_hour_then_the_day(
    redis_url: str, sms: InMemoryProvider
) -> None:
    clock = FakeClock()
    settings = make_settings(redis_url, OTP_ALLOWED_COUNTRIES=("RU", "KZ"))
    rt = runtime_with_clock(settings, clock, sms)
    for phone in ("+79001234567", "+79001234568", "+77011234567"):  # two RU, one KZ
        req = request_code(phone, runtime=rt)
        assert send_verification(rt, req.id).result == "sent"
        if phone == "+79001234567":
            assert verify_code(req.id, sms.last_code(phone), runtime=rt).ok
    rt.store.deny_add("+7900999")
    assert attempt(rt, "+79009991234") == "phone_not_allowed"

    counted = {
        "sent": 3,
        "verified": 1,
        "conversion": round(1 / 3, 4),
        "refused": {"deny_list": 1},
        "countries": {
            "RU": {"sent": 2, "verified": 1, "conversion": 0.5},
            "KZ": {"sent": 1, "verified": 0, "conversion": 0.0},
        },
        "api_keys": {},  # nothing came through the HTTP API
    }
    empty = {
        "sent": 0, "verified": 0, "conversion": None, "refused": {}, "countries": {},
        "api_keys": {},
    }  # fmt: skip
    assert read_stats(rt.store) == {"last_hour": counted, "last_day": counted}
    clock.advance(3600 + 300)  # past the hour's twelve five-minute buckets
    assert read_stats(rt.store) == {"last_hour": empty, "last_day": counted}
    clock.advance(23 * 3600)
    assert read_stats(rt.store) == {"last_hour": empty, "last_day": empty}
    rt.close()
