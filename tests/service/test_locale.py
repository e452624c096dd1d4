"""A locale per request: OTP_TEXT_<XX> picked by the caller's language, stored on the record
and read by the send step; real Redis, the in-memory provider, both APIs."""

from __future__ import annotations

import asyncio

import pytest
from helpers import make_settings, raw_redis

from worker import aio, request_code, resend
from worker.providers.memory import InMemoryProvider
from worker.runtime import AsyncRuntime, Runtime
from worker.settings import Settings, SettingsError
from worker.steps.sending import send_verification

PHONE = "+79001234567"
EN = "TestShop: your login code is {код}. Do not share it."
KK = "TestShop: кіру коды {код}."


@pytest.fixture
def rt(redis_url: str, sms: InMemoryProvider) -> Runtime:
    settings = make_settings(redis_url, OTP_TEXT_EN=EN, OTP_TEXT_KK=KK)
    return Runtime.from_settings(settings, provider=sms)


def _sent_text(rt: Runtime, sms: InMemoryProvider, verification_id: str) -> str:
    assert send_verification(rt, verification_id).result == "sent"
    return sms.outbox[-1].text.replace(sms.outbox[-1].code, "{код}")


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("en", EN), ("en-US", EN), ("EN_gb", EN), ("kk", KK), (None, "default"), ("de", "default")],
)
def test_the_request_language_picks_the_text_and_an_unknown_one_gets_the_default(
    rt: Runtime, sms: InMemoryProvider, locale: str | None, expected: str
) -> None:
    req = request_code(PHONE, locale=locale, runtime=rt)
    want = rt.settings.codes.message_text if expected == "default" else expected
    assert _sent_text(rt, sms, req.id) == want


def test_the_locale_is_on_the_record_and_a_resend_keeps_it(
    rt: Runtime, sms: InMemoryProvider
) -> None:
    req = request_code(PHONE, locale="en-US", runtime=rt)
    record = raw_redis(rt).hgetall(rt.store.keys.record(req.id))
    assert record["locale"] == "EN"
    _sent_text(rt, sms, req.id)
    resend(req.id, runtime=rt)
    assert _sent_text(rt, sms, req.id) == EN


def test_a_tag_that_names_no_language_stores_nothing_and_a_non_string_is_a_type_error(
    rt: Runtime, sms: InMemoryProvider
) -> None:
    req = request_code(PHONE, locale="*", runtime=rt)
    assert "locale" not in raw_redis(rt).hgetall(rt.store.keys.record(req.id))
    with pytest.raises(TypeError, match="locale must be a str"):
        request_code(PHONE, locale=7, runtime=rt)  # type: ignore[arg-type]


def test_the_asyncio_api_takes_the_locale_too(rt: Runtime, sms: InMemoryProvider) -> None:
    async def ask() -> str:
        art = AsyncRuntime.from_runtime(rt)
        try:
            return (await aio.request_code(PHONE, locale="kk", runtime=art)).id
        finally:
            await art.aclose()

    verification_id = asyncio.run(ask())
    assert _sent_text(rt, sms, verification_id) == KK


def test_every_locale_text_is_validated_at_load_and_every_problem_listed(
    rt: Runtime,
) -> None:
    env = {k: v for k, v in rt.settings.to_env().items() if not k.startswith("OTP_TEXT_")}
    env |= {
        "OTP_TEXT_EN": "Your code is {код}",  # no service name
        "OTP_TEXT_DE": "TestShop: Ihr Code",  # no placeholder
        "OTP_TEXT_FR": "TestShop " + "x" * 200 + " {код}",  # two parts
        "OTP_TEXT_ENGLISH": "TestShop {код}",  # not a language code
    }
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    problems = caught.value.problems
    assert "OTP_TEXT_EN: message text must name the service (the guide requires it)" in problems
    assert "OTP_TEXT_DE: message text must contain the placeholder {код}" in problems
    assert any(p.startswith("OTP_TEXT_FR takes 2 SMS parts") for p in problems)
    assert "OTP_TEXT_ENGLISH must be named by a 2- or 3-letter language code" in problems


def test_locale_texts_survive_the_round_trip_through_the_environment(rt: Runtime) -> None:
    again = Settings.from_env(rt.settings.to_env())
    assert again.codes.locale_texts == (("EN", EN), ("KK", KK))
