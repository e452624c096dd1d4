"""No shipped or guessable secret is accepted: one rule, the same for every secret."""

from __future__ import annotations

import secrets

import pytest

from worker.core.secrets import (
    GENERATE_HINT,
    estimated_bits,
    flower_auth_problems,
    secret_problems,
)
from worker.settings import Settings, SettingsError

GOOD = {
    "TARGETSMS_LOGIN": "login",
    "TARGETSMS_PASSWORD": "Pa$$-Пароль",
    "TARGETSMS_SENDER": "target",
    "OTP_SERVICE_NAME": "Shop",
}
# Every value the example files shipped where a secret goes, and the usual suspects.
PLACEHOLDERS = [
    "change-me-to-a-long-random-string",
    "change-me",
    "CHANGEME-CHANGEME-CHANGEME-CHANGEME",
    "your-secret-key-goes-here-please-0",
    "example-example-example-example-example",
    "my-super-secret-password-for-targetsms",
    "k7" * 16,
    "a" * 64,
    "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF",
    "9876543210" * 4,
    "0123456789abcdef",  # 16 hex digits: 64 bits at most
]


def refusal(**env: str) -> str:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({**GOOD, **env})
    return str(info.value)


@pytest.mark.parametrize("value", PLACEHOLDERS)
def test_otp_secret_key_refuses_placeholders_and_patterns(value: str) -> None:
    message = refusal(OTP_SECRET_KEY=value)
    assert "OTP_SECRET_KEY" in message and GENERATE_HINT in message
    assert value not in message


@pytest.mark.parametrize(
    "generate",
    [
        lambda: secrets.token_urlsafe(32),
        lambda: secrets.token_hex(16),  # exactly 128 bits
        lambda: secrets.token_hex(32),
    ],
    ids=["token_urlsafe(32)", "token_hex(16)", "token_hex(32)"],
)
def test_generated_keys_pass(generate: object) -> None:
    # A token_hex(16) of digits only ((10/16)^32: 1 in 3.4 million) is worth an estimated 106
    # bits and is refused (bench/secret_refusals.py): one refusal in 200 is chance, two a bug.
    refused = 0
    for i in range(200):
        key = generate()  # type: ignore[operator]
        if secret_problems("OTP_SECRET_KEY", key):
            refused += 1
        elif i % 10 == 0:  # the rule is secret_problems; loading settings applies it (slower)
            assert Settings.from_env({**GOOD, "OTP_SECRET_KEY": key}).secret == key.encode()
    assert refused <= 1, f"{refused} generated keys were refused"


def test_an_empty_key_says_how_to_make_one() -> None:
    message = refusal()
    assert f"OTP_SECRET_KEY is required: generate one with {GENERATE_HINT}" in message


def test_rotation_keys_pass_the_same_rule() -> None:
    key = secrets.token_urlsafe(32)
    for name in ("OTP_SECRET_KEY_PREVIOUS", "OTP_PSEUDONYM_KEY"):
        message = refusal(OTP_SECRET_KEY=key, **{name: "change-me-to-a-long-random-string"})
        assert name in message and "change-me" not in message
    mixed = f"{secrets.token_urlsafe(32)}, k7k7k7k7k7k7k7k7k7k7k7k7"
    message = refusal(OTP_SECRET_KEY=key, OTP_SECRET_KEY_PREVIOUS=mixed)
    assert "OTP_SECRET_KEY_PREVIOUS" in message and "k7k7" not in message
    old = [secrets.token_urlsafe(32), secrets.token_urlsafe(32)]
    s = Settings.from_env(
        {**GOOD, "OTP_SECRET_KEY": key, "OTP_SECRET_KEY_PREVIOUS": f" {old[0]} ,{old[1]}"}
    )
    assert s.verify_secrets == (key.encode(), old[0].encode(), old[1].encode())
    assert s.pseudonym_secret == key.encode()  # unset: the current key, as before rotation
    assert old[0] not in repr(s)


def test_a_push_token_that_is_set_must_be_strong() -> None:
    key = secrets.token_urlsafe(32)
    message = refusal(OTP_SECRET_KEY=key, TARGETSMS_PUSH_TOKEN="x" * 40)
    assert "TARGETSMS_PUSH_TOKEN" in message and "x" * 40 not in message
    token = secrets.token_urlsafe(32)
    assert Settings.from_env({**GOOD, "OTP_SECRET_KEY": key, "TARGETSMS_PUSH_TOKEN": token})


@pytest.mark.parametrize(
    "value",
    [
        "admin:change-me",  # what the example files shipped
        "admin:admin",
        "ops:" + "ab12" * 8,
        "ops:Summer2024!",
        "ops:password-password-password",
        "ops:opsopsopsopsopsopsops",
        f"ops:{secrets.token_urlsafe(32)},admin:change-me",  # every user's password counts
    ],
    # Ids that stay the same across processes (xdist compares them): no random part.
    ids=["shipped", "admin", "hex-pattern", "season-year", "repeated-word", "repeated-user",
         "one-of-two-users"],
)  # fmt: skip
def test_flower_basic_auth_refuses_guessable_passwords(value: str) -> None:
    problems = flower_auth_problems(value)
    assert problems and all("FLOWER_BASIC_AUTH" in p for p in problems)
    assert not any(value.rpartition(":")[2] in p for p in problems)


def test_flower_basic_auth_accepts_generated_passwords_and_needs_a_user() -> None:
    for _ in range(200):
        assert flower_auth_problems(f"ops:{secrets.token_urlsafe(32)}") == []  # the hint's
    # 16 random characters (96 bits) sit near the 80-bit line of a rough estimate: about 1 in
    # 12,000 reads as words between separators and is refused (bench/secret_refusals.py). So
    # this counts refusals: 6 of 2,000 (35x that rate) happen by chance once in 10^7 runs.
    tries = (f"ops:{secrets.token_urlsafe(12)}" for _ in range(2000))
    refused = sum(bool(flower_auth_problems(value)) for value in tries)
    assert refused <= 5, refused
    assert flower_auth_problems(secrets.token_urlsafe(32))  # no user
    assert flower_auth_problems(f":{secrets.token_urlsafe(32)}")
    assert flower_auth_problems("")


def test_the_estimate_discounts_words_runs_and_repeats() -> None:
    random_part = secrets.token_urlsafe(16)
    assert estimated_bits("secret" + random_part) == pytest.approx(
        estimated_bits(random_part), abs=1
    )
    assert estimated_bits("abcdefgh") < estimated_bits("ab") + 1
    assert estimated_bits("xyz1" * 10) == estimated_bits("xyz1")
    assert estimated_bits("") == 0
