"""Phone parsing: E.164 or a refusal; nothing guessed, nothing echoed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.phone import InvalidPhone, parse_phone


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
        "79161234567",  # no +: refused, not guessed
        "89001234567",
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
