"""Phone parsing: E.164 or a refusal; nothing guessed beyond the configured default region,
nothing echoed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.core.phone import InvalidPhone, parse_phone


@pytest.mark.parametrize(
    ("raw", "e164", "region"),
    [
        ("+79001234567", "+79001234567", "RU"),
        ("+7 900 123-45-67", "+79001234567", "RU"),
        ("+7 (900) 123 45 67", "+79001234567", "RU"),
        ("+77012345678", "+77012345678", "KZ"),
        ("+375291234567", "+375291234567", "BY"),
    ],
)
def test_valid_numbers(raw: str, e164: str, region: str) -> None:
    phone = parse_phone(raw)
    assert (phone.e164, phone.region) == (e164, region)
    assert phone.prefix == e164[:-4]
    assert e164 not in repr(phone)


@pytest.mark.parametrize(
    "raw",
    [
        "8 900 123-45-67",  # the long-distance prefix Russians dial
        "89001234567",
        "8 (900) 123 45 67",
        "900 123-45-67",  # the national number alone
        "(900) 123-45-67",
        "9001234567",
        "7 900 123-45-67",  # the country code without its +
        "79001234567",
        "+7 900 123-45-67",  # international still works with a default region
        " +79001234567 ",
    ],
)
def test_national_formats_of_the_default_region_are_one_e164(raw: str) -> None:
    phone = parse_phone(raw, "RU")
    assert (phone.e164, phone.region) == ("+79001234567", "RU")


@pytest.mark.parametrize(
    "raw",
    [
        "8 900 123-45",  # too short
        "8 900 123-45-67-8",  # too long
        "8 800 555-35-35",  # toll-free, however it is spelled
        "8 495 123-45-67",  # fixed line
        "8 900 ABC-45-67",
        "8 900 123-45-67 доб. 5",
    ],
)
def test_national_formats_are_still_checked(raw: str) -> None:
    with pytest.raises(InvalidPhone):
        parse_phone(raw, "RU")


@pytest.mark.parametrize("raw", ["89161234567", "9161234567", "79161234567"])
def test_without_a_default_region_only_international_is_taken(raw: str) -> None:
    with pytest.raises(InvalidPhone) as info:
        parse_phone(raw)
    assert "international" in str(info.value) and raw not in str(info.value)


@pytest.mark.parametrize(
    "raw",
    [
        "+7900123456",  # too short
        "+7 900 ABC-45-67",
        "+1-800-FLOWERS",
        "++79001234567",
        "+79001234567 ext 5",
        "",
        "+78005553535",  # toll-free
        "+74951234567",  # fixed line: cannot receive SMS
        "+7809 123 45 67",  # premium rate
    ],
)
def test_refused(raw: str) -> None:
    with pytest.raises(InvalidPhone) as info:
        parse_phone(raw)
    assert raw.strip("+ ") == "" or raw not in str(info.value)


@given(st.text(max_size=40))
def test_any_text_parses_or_is_refused(raw: str) -> None:
    try:
        phone = parse_phone(raw)
    except InvalidPhone as exc:
        assert exc.code == "invalid_phone"
    else:
        assert phone.e164.startswith("+") and phone.e164[1:].isdigit()


@given(st.text(max_size=40))
def test_any_text_with_a_default_region_parses_or_is_refused(raw: str) -> None:
    try:
        phone = parse_phone(raw, "RU")
    except InvalidPhone as exc:
        assert exc.code == "invalid_phone"
    else:
        assert phone.e164.startswith("+") and phone.e164[1:].isdigit()
        assert parse_phone(phone.e164).e164 == phone.e164  # E.164 is a fixed point
