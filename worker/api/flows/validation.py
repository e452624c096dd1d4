"""The caller's input, checked before any Redis work: ``client_ip``, verification ids, codes."""

from __future__ import annotations

from worker.core.codes import is_verification_id
from worker.core.gate import ip_subject
from worker.core.outcomes import RefusalCode
from worker.errors import RequestRefused, VerificationNotFound

__all__ = ["NOT_FOUND", "client_ip_subject", "require_code_text", "require_verification_id"]

NOT_FOUND = "no such verification"


def client_ip_subject(client_ip: object) -> str | None:
    """The unit an IP is counted by; ``TypeError`` for a non-string (a programming error)."""
    if client_ip is not None and not isinstance(client_ip, str):
        raise TypeError(f"client_ip must be a str or None, not {type(client_ip).__name__}")
    if not client_ip:
        return None
    try:
        return ip_subject(client_ip)
    except ValueError:
        raise RequestRefused(RefusalCode.INVALID_IP, "client_ip is not an IP address") from None


def require_verification_id(verification_id: str) -> None:
    """``VerificationNotFound`` for a string no verification id can be (nothing is read)."""
    if not is_verification_id(verification_id):
        raise VerificationNotFound(NOT_FOUND)


def require_code_text(code: object) -> None:
    """A code must be the string typed: an int would lose leading zeros and burn an attempt."""
    if not isinstance(code, str):
        raise TypeError(f"code must be a str (as typed), not {type(code).__name__}")
