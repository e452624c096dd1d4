"""Phone numbers: the one normalizer to E.164, never guessing a country or a digit.

Every spelling of a number (``+7 900 123-45-67``, or ``8 900 123-45-67`` in Russia) becomes
the same E.164 string before any limit counts it, so a spelling is never a bucket of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType

from worker.errors import InvalidPhone

__all__ = ["InvalidPhone", "Phone", "deny_prefix", "deny_prefix_problem", "parse_phone"]

# Formatting people type is fine; letters (vanity numbers), an extension or a second "+" is not.
_INTERNATIONAL = re.compile(r"^\+[0-9][0-9 ()\-.]{3,30}$")
_NATIONAL = re.compile(r"^[0-9(][0-9 ()\-.]{3,30}$")

# A deny-list entry: "+" and 1 to 15 ASCII digits, from a country code (+1, +7, +44) up to a
# whole number. str.isdigit() would also take "٧"; a prefix must match what E.164 holds.
_DENY_PREFIX = re.compile(r"\+[0-9]{1,15}", re.ASCII)

# Types that cannot receive an SMS or that someone else pays for: refused before any cost.
_NO_SMS_TYPES = frozenset(
    {
        PhoneNumberType.PREMIUM_RATE,
        PhoneNumberType.SHARED_COST,
        PhoneNumberType.TOLL_FREE,
        PhoneNumberType.FIXED_LINE,
        PhoneNumberType.VOIP,
        PhoneNumberType.PAGER,
        PhoneNumberType.UAN,
        PhoneNumberType.VOICEMAIL,
    }
)


@dataclass(frozen=True, slots=True)
class Phone:
    e164: str
    region: str  # ISO 3166-1 alpha-2, "ZZ" when unknown

    @property
    def prefix(self) -> str:
        """The number without its last four digits: the unit SMS pumping walks through."""
        return self.e164[:-4]

    def __repr__(self) -> str:
        return f"Phone(region={self.region!r})"


def parse_phone(raw: str, default_region: str = "") -> Phone:
    """Parse a number to E.164; refuse anything that is not plainly one.

    Without ``default_region`` only the international format is taken. With one (an ISO
    region, ``OTP_DEFAULT_REGION``) the national formats people there type are too: in RU
    ``8 900 123-45-67``, ``900 123-45-67`` and ``7 900 123-45-67`` are all ``+79001234567``.
    """
    text = raw.strip() if isinstance(raw, str) else ""
    if not (_INTERNATIONAL.match(text) or (default_region and _NATIONAL.match(text))):
        wanted = "a phone number" if default_region else "in international format"
        raise InvalidPhone(f"phone must be {wanted}, e.g. +79001234567")
    try:
        number = phonenumbers.parse(text, default_region or None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone("phone number cannot be parsed") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone("phone number is not a valid number")
    if phonenumbers.number_type(number) in _NO_SMS_TYPES:
        raise InvalidPhone("phone number cannot receive SMS")
    region = phonenumbers.region_code_for_number(number) or "ZZ"
    return Phone(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        region=region,
    )


def deny_prefix_problem(prefix: str) -> str | None:
    if _DENY_PREFIX.fullmatch(prefix):
        return None
    return "a prefix is + and 1 to 15 ASCII digits, e.g. +7, +44, +7999"


def deny_prefix(raw: str) -> str:
    """A deny-list entry as typed (spaces and dashes allowed) in the form E.164 numbers use."""
    prefix = re.sub(r"[\s\-()]", "", raw)
    problem = deny_prefix_problem(prefix)
    if problem:
        raise ValueError(problem)
    return prefix
