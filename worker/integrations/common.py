"""What the FastAPI router and the Django app share: the signed verification cookie, the
client's address, and how a refusal maps to an HTTP status."""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Callable

from worker.core.codes import is_verification_id, pseudonym
from worker.core.outcomes import RefusalCode
from worker.settings import Settings

__all__ = [
    "PENDING_COOKIE",
    "VERIFIED_COOKIE",
    "VERIFIED_MAX_AGE",
    "client_address",
    "refusal_status",
    "sign",
    "unsign",
]

#: The verification in progress (its id, signed); HttpOnly: page scripts never see it.
PENDING_COOKIE = "targetsms_pending"
#: A proof, good for a few minutes, that this browser verified that verification.
VERIFIED_COOKIE = "targetsms_verified"
VERIFIED_MAX_AGE = 300


def _tag(settings: Settings, kind: str, value: str) -> str:
    return pseudonym(settings.pseudonym_secret, f"cookie-{kind}", value)


def sign(settings: Settings, kind: str, verification_id: str, *, now: float | None = None) -> str:
    """``<id>.<issued>.<tag>``: the id names a verification, never its code."""
    issued = str(int(time.time() if now is None else now))
    return f"{verification_id}.{issued}.{_tag(settings, kind, f'{verification_id}.{issued}')}"


def unsign(
    settings: Settings,
    kind: str,
    value: str | None,
    *,
    max_age: int,
    now: float | None = None,
) -> str | None:
    """The verification id of a cookie this site signed for ``kind`` within ``max_age``."""
    if not value or value.count(".") != 2:
        return None
    verification_id, issued, tag = value.split(".")
    if not is_verification_id(verification_id) or not issued.isdigit():
        return None
    if not hmac.compare_digest(tag, _tag(settings, kind, f"{verification_id}.{issued}")):
        return None
    age = (time.time() if now is None else now) - int(issued)
    return verification_id if 0 <= age <= max_age else None


def client_address(
    settings: Settings, peer: str | None, header: Callable[[str], str | None]
) -> str:
    """The TCP peer, or -- only when ``OTP_TRUSTED_PROXY_HEADER`` names one -- the last
    address of that header (the one the trusted proxy added; earlier ones are the client's
    to forge). Empty when neither is an address: the IP limits then do not apply."""
    name = settings.web.trusted_proxy_header
    candidate = peer or ""
    if name:
        forwarded = header(name) or ""
        candidate = forwarded.rsplit(",", 1)[-1].strip()
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return ""


_STATUSES: dict[str, int] = {
    RefusalCode.RATE_LIMITED: 429,
    RefusalCode.INVALID_PHONE: 422,
    RefusalCode.INVALID_IP: 422,
    RefusalCode.NOT_ALLOWED: 409,
}


def refusal_status(code: str) -> int:
    """429 for a limit, 422 for bad input, 409 for a state, 403 for everything refused."""
    return _STATUSES.get(code, 403)
