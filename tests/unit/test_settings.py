"""Settings: every problem in one message, no value echoed, defaults that make sense."""

from __future__ import annotations

import secrets

import pytest

from worker.settings import Settings, SettingsError, variables

GOOD = {
    "TARGETSMS_LOGIN": "login",
    "TARGETSMS_PASSWORD": "Pa$$-Пароль",
    "TARGETSMS_SENDER": "target",
    "OTP_SERVICE_NAME": "Shop",
    "OTP_SECRET_KEY": secrets.token_urlsafe(32),
}


def test_defaults_from_the_issue() -> None:
    s = Settings.from_env(GOOD)
    assert s.gateway.url == "https://apiagent.ru/password_generation/api.php"
    assert s.gateway.state_url == "https://sms.targetsms.ru/xml/state.php"
    assert (s.codes.length, s.codes.ttl_seconds, s.codes.max_attempts) == (6, 300, 5)
    assert (s.codes.resend_cooldown_seconds, s.codes.send_deadline_seconds) == (60, 90)
    assert s.gateway.duplicate_window_seconds == 60
    assert s.abuse.allowed_countries == ("RU",)
    assert s.broker == s.redis_url
    assert "{код}" in s.codes.message_text and "Shop" in s.codes.message_text
    assert "Никому" in s.codes.message_text


def test_every_problem_in_one_message_without_values() -> None:
    env = {
        "OTP_CODE_LENGTH": "twelve",
        "OTP_TTL_SECONDS": "0",
        "TARGETSMS_URL": "http://apiagent.ru/password_generation/api.php",
        "REDIS_URL": "mysql://user:hunter2@db/0",
        "TARGETSMS_ALLOW_HTTP": "maybe",
        "OTP_TEXT": "Ваш код {код}",
        "OTP_SERVICE_NAME": "Shop",
        "TARGETSMS_PASSWORD": "hunter2",
        "OTP_ALLOWED_COUNTRIES": "RU,russia",
    }
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    message = str(info.value)
    assert "\n" not in message
    for name in ("OTP_CODE_LENGTH", "OTP_TTL_SECONDS", "TARGETSMS_URL", "REDIS_URL",
                 "TARGETSMS_ALLOW_HTTP", "OTP_TEXT", "TARGETSMS_LOGIN", "TARGETSMS_SENDER",
                 "OTP_SECRET_KEY", "OTP_ALLOWED_COUNTRIES"):  # fmt: skip
        assert name in message, name
    assert "hunter2" not in message and "twelve" not in message
    assert len(info.value.problems) >= 10


def test_visibility_timeout_must_outlast_every_countdown() -> None:
    with pytest.raises(SettingsError, match="CELERY_VISIBILITY_TIMEOUT"):
        Settings.from_env(
            {**GOOD, "CELERY_VISIBILITY_TIMEOUT": "10", "OTP_POLL_MAX_DELAY_SECONDS": "60"}
        )


def test_amqp_broker_and_round_trip_through_the_environment() -> None:
    s = Settings.from_env({**GOOD, "CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//"})
    assert s.broker.startswith("amqp://")
    assert Settings.from_env(s.to_env()) == s


def test_secrets_are_not_in_the_repr() -> None:
    s = Settings.from_env(GOOD)
    assert "Pa$$" not in repr(s) and GOOD["OTP_SECRET_KEY"] not in repr(s)


def test_variable_names_are_documented_in_the_readme() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    missing = [v.name for v in variables() if f"`{v.name}`" not in readme]
    assert not missing, f"settings missing from the README: {missing}"


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("", 1),
        ("a" * 160, 1),  # GSM-7: 160 septets in one part
        ("a" * 161, 2),  # then 153 a part
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # extension characters cost two septets
        ("€" * 81, 2),
        ("Ж" * 70, 1),  # UCS-2 (Cyrillic): 70 in one part
        ("Ж" * 71, 2),  # then 67 a part
        ("Ж" * 134, 2),
        ("Ж" * 135, 3),
        ("a" * 159 + "Ж", 3),  # one non-GSM character turns the whole text into UCS-2
        ("😀" * 35, 1),  # outside the BMP: two UTF-16 units each
        ("😀" * 36, 2),
    ],
)
def test_sms_parts(text: str, parts: int) -> None:
    from worker.providers.targetsms.validation import sms_parts

    assert sms_parts(text) == parts


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Shop: код {код}\nне сообщайте", "control characters"),
        ("Shop: код {код}\tok", "control characters"),
        ("Shop: код {код}\u0085ok", "control characters"),
        ("Shop: " + "Ж" * 70 + " {код}", "SMS parts"),
        ("Код {код}", "must name the service"),
        ("Shop без кода", "{код}"),
    ],
)
def test_otp_text_is_checked_at_load(text: str, problem: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({**GOOD, "OTP_TEXT": text})
    assert "OTP_TEXT" in str(info.value) and problem in str(info.value)


def test_otp_max_sms_parts_allows_a_longer_text() -> None:
    text = "Shop: " + "Ж" * 70 + " {код}"
    s = Settings.from_env({**GOOD, "OTP_TEXT": text, "OTP_MAX_SMS_PARTS": "2"})
    assert s.codes.message_text == text


@pytest.mark.parametrize("wait", ["nan", "inf", "-inf", "-1", "soon"])
def test_send_wait_must_be_a_finite_non_negative_number(
    wait: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from worker.ops.cli import main

    with pytest.raises(SystemExit) as info:
        main(["send", "+79001234567", f"--wait={wait}"])
    assert info.value.code == 2
    assert "--wait: must be a finite number of seconds" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TARGETSMS_LOGIN", "log\x1bin"),
        ("TARGETSMS_PASSWORD", "pass\nword-Пароль"),
        ("TARGETSMS_SENDER", "tar\x00get"),
        ("TARGETSMS_LOGIN", "log\x9bin"),  # a C1 control character (CSI)
    ],
)
def test_credentials_and_sender_with_a_control_character_are_refused_at_load(
    name: str, value: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({**GOOD, name: value})
    problems = [p for p in raised.value.problems if "control character" in p]
    assert problems == [f"{name} holds a control character (the value is not shown)"]
    assert value not in str(raised.value)


def test_default_region_is_ru_and_must_be_a_region() -> None:
    assert Settings.from_env(GOOD).abuse.default_region == "RU"
    assert Settings.from_env({**GOOD, "OTP_DEFAULT_REGION": "KZ"}).abuse.default_region == "KZ"
    for bad in ("Russia", "ZZ"):
        with pytest.raises(SettingsError, match="OTP_DEFAULT_REGION"):
            Settings.from_env({**GOOD, "OTP_DEFAULT_REGION": bad})
