"""Checks that run before any money is spent; each returns a reason or raises ``InvalidRequest``."""

from __future__ import annotations

import re

from worker.errors import InvalidRequest

__all__ = [
    "CODE_PLACEHOLDER",
    "MAX_CODE_LENGTH",
    "MIN_CODE_LENGTH",
    "sms_parts",
    "validate_code_length",
    "validate_sender",
    "validate_text",
]

CODE_PLACEHOLDER = "{код}"
MIN_CODE_LENGTH = 4
MAX_CODE_LENGTH = 10

# Alphanumeric sender names: up to 11 Latin letters/digits and a few marks; numeric: up to 15.
_ALPHA_SENDER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._\-!&']{0,10}$")
_NUMERIC_SENDER = re.compile(r"^\+?[0-9]{1,15}$")


# GSM 03.38: the basic table costs one septet a character, the extension table two.
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = frozenset("^{}\\[~]|€")


def sms_parts(text: str) -> int:
    """How many SMS parts ``text`` is billed as: GSM-7 160 septets in one part, 153 per part
    when split; otherwise UCS-2, 70 characters in one part, 67 per part (Cyrillic is UCS-2)."""
    if all(ch in _GSM_BASIC or ch in _GSM_EXTENSION for ch in text):
        units = sum(2 if ch in _GSM_EXTENSION else 1 for ch in text)
        single, multi = 160, 153
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi = 70, 67
    return 1 if units <= single else -(-units // multi)


def validate_sender(sender: str) -> str:
    if not sender or sender != sender.strip():
        raise InvalidRequest("sender must be a non-empty name without surrounding spaces")
    if _NUMERIC_SENDER.match(sender) or (
        _ALPHA_SENDER.match(sender) and not sender.isdigit() and any(c.isalpha() for c in sender)
    ):
        return sender
    raise InvalidRequest(
        "sender must be up to 11 Latin letters/digits (alphanumeric) or up to 15 digits"
    )


def validate_code_length(length: int) -> int:
    if isinstance(length, bool) or not isinstance(length, int):
        raise InvalidRequest("code length must be an integer")
    if not MIN_CODE_LENGTH <= length <= MAX_CODE_LENGTH:
        raise InvalidRequest(
            f"code length must be between {MIN_CODE_LENGTH} and {MAX_CODE_LENGTH} digits"
        )
    return length


def validate_text(text: str, service_name: str) -> str:
    """The guide requires both the ``{код}`` placeholder and the service's name in every text."""
    if CODE_PLACEHOLDER not in text:
        raise InvalidRequest(f"message text must contain the placeholder {CODE_PLACEHOLDER}")
    if not service_name.strip():
        raise InvalidRequest("service name must not be empty")
    if service_name.casefold() not in text.casefold():
        raise InvalidRequest("message text must name the service (the guide requires it)")
    return text
