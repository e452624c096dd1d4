"""Identifiers and digests: what may be stored or put in a key instead of a secret."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

__all__ = [
    "code_digest",
    "is_verification_id",
    "new_verification_id",
    "normalize_code",
    "pseudonym",
]

_ID = re.compile(r"^[A-Za-z0-9_-]{22,64}$")
_SEPARATORS = re.compile(r"[\s\-]")


def new_verification_id() -> str:
    """128 random bits, URL-safe: unguessable, and safe in a Redis key or a task message.

    Never starts with "-", which a command line would read as an option (1 id in 64 would).
    """
    while True:
        candidate = secrets.token_urlsafe(16)
        if not candidate.startswith("-"):
            return candidate


def is_verification_id(value: object) -> bool:
    return isinstance(value, str) and bool(_ID.match(value))


def normalize_code(typed: str) -> str:
    """What the user typed, without the spaces and dashes people add when copying codes."""
    return _SEPARATORS.sub("", typed)


def code_digest(secret: bytes, verification_id: str, code: str) -> str:
    """HMAC(secret, id + code): the only form in which a code is stored."""
    message = f"{verification_id}:{code}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def pseudonym(secret: bytes, kind: str, value: str) -> str:
    """A keyed digest for phone numbers and IPs in Redis key names, so keys do not leak them."""
    message = f"{kind}:{value}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]
