"""Request bodies: parsed and checked here, so a handler sees only well-formed values.

Every rule has its twin in ``openapi.json`` (the committed document schemathesis tests the
live service against); a failed rule is a ``BadRequest`` naming the field, never its value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from worker.core.gate import ip_subject

__all__ = [
    "MAX_BODY_BYTES",
    "BadRequest",
    "CheckBody",
    "CreateBody",
    "ResendBody",
    "idempotency_key",
    "parse_object",
]

MAX_BODY_BYTES = 16 * 1024
MAX_PHONE_CHARS = 64
MAX_CODE_CHARS = 64
MAX_IP_CHARS = 64
MAX_CAPTCHA_CHARS = 4096
MAX_IDEMPOTENCY_CHARS = 255


class BadRequest(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_object(body: bytes, *, empty_ok: bool = False) -> dict[str, Any]:
    if empty_ok and not body.strip():
        return {}
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        raise BadRequest("invalid_request", "the body must be a JSON object") from None
    if not isinstance(value, dict):
        raise BadRequest("invalid_request", "the body must be a JSON object")
    return value


def _string(obj: dict[str, Any], name: str, limit: int, *, required: bool) -> str | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise BadRequest("invalid_request", f"{name} is required")
        return None
    if not isinstance(value, str):
        raise BadRequest("invalid_request", f"{name} must be a string")
    if len(value) > limit:
        raise BadRequest("invalid_request", f"{name} is longer than {limit} characters")
    return value


def _client_ip(obj: dict[str, Any]) -> str:
    """The site's user's IP (the API's own peer is the site's server): required, an address."""
    value = _string(obj, "client_ip", MAX_IP_CHARS, required=True)
    assert value is not None
    try:
        ip_subject(value)
    except ValueError:
        raise BadRequest("invalid_ip", "client_ip is not an IP address") from None
    return value


def idempotency_key(header: str | None) -> str | None:
    if header is None:
        return None
    if not 0 < len(header) <= MAX_IDEMPOTENCY_CHARS or not header.isprintable():
        raise BadRequest(
            "invalid_request",
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_CHARS} printable characters",
        )
    return header


@dataclass(frozen=True, slots=True)
class CreateBody:
    phone: str
    client_ip: str
    captcha_token: str | None

    @classmethod
    def parse(cls, body: bytes) -> CreateBody:
        obj = parse_object(body)
        phone = _string(obj, "phone", MAX_PHONE_CHARS, required=True)
        assert phone is not None
        return cls(phone, _client_ip(obj), _string(obj, "captcha_token", MAX_CAPTCHA_CHARS,
                                                    required=False))  # fmt: skip


@dataclass(frozen=True, slots=True)
class CheckBody:
    code: str
    client_ip: str

    @classmethod
    def parse(cls, body: bytes) -> CheckBody:
        obj = parse_object(body)
        code = _string(obj, "code", MAX_CODE_CHARS, required=True)
        assert code is not None
        return cls(code, _client_ip(obj))


@dataclass(frozen=True, slots=True)
class ResendBody:
    client_ip: str
    captcha_token: str | None

    @classmethod
    def parse(cls, body: bytes) -> ResendBody:
        obj = parse_object(body)
        token = _string(obj, "captcha_token", MAX_CAPTCHA_CHARS, required=False)
        return cls(_client_ip(obj), token)
