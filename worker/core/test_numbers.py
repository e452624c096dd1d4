"""Test numbers: listed numbers that get a fixed code and no SMS (app-store reviewers, a site's
own end-to-end tests). Only numbers no subscriber can hold are accepted without an explicit
override, so a typo cannot give a stranger's number a code anyone who reads the config knows.

Ranges reserved for fiction and testing, by their regulator:

- North America (NANP), NANPA: 555-0100 to 555-0199 in every area code, reserved for
  fictitious use (+1 NPA 555 0100 to 0199). libphonenumber accepts them as valid numbers.
- United Kingdom, Ofcom's "telephone numbers for drama purposes" (mobiles 07700 900000 to
  07700 900999) are reserved too, but libphonenumber calls them invalid, so ``request_code``
  refuses them before any test-number rule applies: they are not listed here.

Russia has no range reserved this way that we could find (Rossvyaz publishes the numbering
plan, not a fiction range); the sandbox's magic numbers (+7 999 000 XXXX) are ordinary mobile
numbers that may belong to subscribers. An RU test number therefore needs
``OTP_TEST_NUMBERS_OUTSIDE_RESERVED=1``: the operator says the number is theirs.
"""

from __future__ import annotations

import re

__all__ = ["RESERVED_RANGES", "is_reserved_for_testing", "test_number_problems"]

#: E.164 patterns of the reserved ranges (see the module docstring for each source).
RESERVED_RANGES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("NANP 555-01XX fictitious", re.compile(r"\+1[2-9]\d{2}55501\d{2}")),
)


def is_reserved_for_testing(e164: str) -> bool:
    return any(pattern.fullmatch(e164) for _, pattern in RESERVED_RANGES)


def test_number_problems(
    codes: dict[str, str], code_length: int, *, outside_reserved: bool
) -> list[str]:
    """``codes``: E.164 number -> fixed code. Problems name the entry's position, never the
    number (a number is a secret in logs and messages)."""
    out: list[str] = []
    for position, (e164, code) in enumerate(codes.items(), start=1):
        if not (code.isascii() and code.isdigit() and len(code) == code_length):
            out.append(
                f"OTP_TEST_NUMBERS entry {position}: the code must be {code_length} digits "
                "(OTP_CODE_LENGTH)"
            )
        if not outside_reserved and not is_reserved_for_testing(e164):
            out.append(
                f"OTP_TEST_NUMBERS entry {position} is outside the ranges reserved for testing "
                "(+1NPA55501XX): use one of those, or set "
                "OTP_TEST_NUMBERS_OUTSIDE_RESERVED=1 if the number is yours"
            )
    return out
