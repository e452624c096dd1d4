"""The deny list: prefixes from the settings and from `targetsms block`, matched from the
country code up, on requests and resends alike; a prefix is plus and ASCII digits only."""

from __future__ import annotations

import pytest
from gate_calls import PHONE, attempt, refusal, resent, runtime, sent
from helpers import make_settings

from worker import request_code
from worker.providers.memory import InMemoryProvider
from worker.runtime import Runtime, get_runtime, set_runtime
from worker.settings import Settings, SettingsError

pytestmark = pytest.mark.usefixtures("drop_queued_messages")


def test_deny_list_from_settings_and_from_the_cli(
    redis_url: str, sms: InMemoryProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    rt = runtime(redis_url, sms, OTP_DENY_PREFIXES=("+7999123",))
    assert attempt(rt, "+79991234567") == "phone_not_allowed"

    def cli(*args: str) -> tuple[int, str]:
        """`targetsms ARGS` in this process, on ``rt``'s store: the exit status and stdout."""
        from worker.ops.cli import main

        before = get_runtime()
        set_runtime(rt)
        try:
            status = main(list(args))
        except SystemExit as exc:  # argparse's usage error
            status = int(exc.code or 0)
        finally:
            set_runtime(before)
        return status, capsys.readouterr().out

    assert cli("block", "+7900 55")[0] == 0
    assert attempt(rt, "+79005512345") == "phone_not_allowed"
    assert attempt(rt, "+79005612345") == "ok"
    assert "+790055" in cli("block")[1]
    assert cli("unblock", "+790055")[0] == 0
    assert attempt(rt, "+79005512345") == "ok"
    assert cli("block", "7900")[0] == 2  # not a prefix: usage error


@pytest.mark.parametrize("prefix", ["+7", "+79", "+7900", "+79001234567"])
def test_the_deny_list_matches_from_the_country_code_up(
    redis_url: str, sms: InMemoryProvider, prefix: str
) -> None:
    rt = runtime(redis_url, sms)
    rt.store.deny_add(prefix)  # what `targetsms block PREFIX` stores
    assert refusal(lambda: request_code(PHONE, runtime=rt)) == "phone_not_allowed"
    from_settings = runtime(redis_url, sms, OTP_DENY_PREFIXES=(prefix,))
    assert refusal(lambda: request_code(PHONE, runtime=from_settings)) == "phone_not_allowed"


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


def test_a_deny_prefix_is_plus_and_ascii_digits_only(redis_url: str, sms: InMemoryProvider) -> None:
    from worker.core.phone import deny_prefix

    assert deny_prefix("+7 999-12") == "+799912"
    for junk in ("+٧٩٩٩", "7999", "+", "+7a", "+1234567890123456"):
        with pytest.raises(ValueError):
            deny_prefix(junk)
    env = {**make_settings(redis_url).to_env(), "OTP_DENY_PREFIXES": "+7,+٧٩٩٩"}
    with pytest.raises(SettingsError, match="OTP_DENY_PREFIXES"):
        Settings.from_env(env)
