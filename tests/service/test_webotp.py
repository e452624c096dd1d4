"""OTP_WEBOTP_DOMAIN: every text ends with "@<domain> #<code>". Sent through the sandbox over
HTTP, which keeps the line break and fills every {код} (the platform's behaviour is unconfirmed:
see the README)."""

from __future__ import annotations

import re

import pytest
from helpers import Sandbox, make_settings

from worker import request_code, verify_code
from worker.runtime import Runtime
from worker.settings import Settings, SettingsError
from worker.steps.sending import send_verification

PHONE = "+79001234567"


def test_the_sms_ends_with_the_webotp_line_and_its_code_verifies(
    redis_url: str, sandbox: Sandbox
) -> None:
    settings = make_settings(
        redis_url,
        sandbox,
        OTP_WEBOTP_DOMAIN="shop.example.ru",
        OTP_TEXT_EN="TestShop code {код}",
        OTP_MAX_SMS_PARTS=2,  # the Cyrillic default text (UCS-2) no longer fits one with the line
    )
    rt = Runtime.from_settings(settings)
    for locale in (None, "en"):
        req = request_code(PHONE, locale=locale, runtime=rt)
        assert send_verification(rt, req.id).result == "sent"
        message = sandbox.outbox(PHONE)[-1]
        first, last = message["text"].rsplit("\n", 1)  # the line break survived the XML
        code = str(message["code"])
        assert last == f"@shop.example.ru #{code}"  # the second {код} was filled too
        assert code in first and "{код}" not in message["text"]
        assert verify_code(req.id, code, runtime=rt).ok
    rt.close()


@pytest.mark.parametrize(
    "domain",
    [
        "https://shop.example.ru",
        "shop.example.ru:443",
        "shop",
        "Shop.Example.RU",
        "a b.ru",
        "-a.ru",
    ],
)
def test_a_domain_that_is_not_a_host_name_is_refused_at_load(
    redis_url: str, sandbox: Sandbox, domain: str
) -> None:
    env = make_settings(redis_url, sandbox).to_env() | {"OTP_WEBOTP_DOMAIN": domain}
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert any(re.match("OTP_WEBOTP_DOMAIN must be a host name", p) for p in caught.value.problems)


def test_the_webotp_line_counts_towards_the_sms_parts(redis_url: str, sandbox: Sandbox) -> None:
    long_text = "TestShop " + "x" * 120 + " {код}"  # fits one part alone, not with the line
    env = make_settings(redis_url, sandbox, OTP_TEXT=long_text).to_env()
    Settings.from_env(env)
    with pytest.raises(SettingsError, match=r"the WebOTP line included"):
        Settings.from_env(env | {"OTP_WEBOTP_DOMAIN": "shop.example.ru"})
