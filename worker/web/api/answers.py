"""What the HTTP API answers: JSON bodies, one shape for every refusal."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from worker.core.outcomes import RefusalCode

__all__ = ["Answer", "error", "ok"]

_JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = _JSON


def ok(status: int, body: dict[str, Any], *headers: tuple[str, str]) -> Answer:
    return Answer(status, json.dumps(body, separators=(",", ":")).encode(), headers)


def error(status: int, code: str, message: str, *headers: tuple[str, str]) -> Answer:
    return ok(status, {"error": code, "message": message}, *headers)


UNAUTHORIZED = error(
    401, "unauthorized", "a valid API key is required", ("WWW-Authenticate", "Bearer")
)
NOT_FOUND = error(404, "not_found", "no such verification")
NO_ROUTE = error(404, "not_found", "no such resource")
UNAVAILABLE = error(
    503, "unavailable", "briefly unavailable; try again shortly", ("Retry-After", "5")
)
INTERNAL = error(500, "internal", "internal error")

# A refusal's HTTP status by its code: bad input 400, policy 403, wrong state 409, limits 429.
REFUSAL_STATUS: dict[str, int] = {
    RefusalCode.INVALID_PHONE: 400,
    RefusalCode.INVALID_IP: 400,
    RefusalCode.COUNTRY_NOT_ALLOWED: 403,
    RefusalCode.PHONE_NOT_ALLOWED: 403,
    RefusalCode.CAPTCHA_REQUIRED: 403,
    RefusalCode.CAPTCHA_FAILED: 403,
    RefusalCode.NOT_ALLOWED: 409,
    RefusalCode.RATE_LIMITED: 429,
}
