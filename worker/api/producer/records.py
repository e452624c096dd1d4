"""``get_status`` and ``cancel``: one verification's record read back, or stopped."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from worker.api.producer.boundary import runtime_or_default, translated
from worker.api.producer.validation import NOT_FOUND, require_verification_id
from worker.errors import VerificationNotFound
from worker.runtime import Runtime
from worker.store import CancelOutcome

__all__ = ["VerificationStatus", "cancel", "get_status"]


@dataclass(frozen=True, slots=True)
class VerificationStatus:
    id: str
    state: str
    delivery_status: str | None
    id_sms: str | None
    error: dict[str, str] | None
    attempts_left: int
    sends: int
    created_at: int | None
    sent_at: int | None
    expires_at: int | None
    history: list[dict[str, Any]] = field(default_factory=list)
    # The E.164 number the code goes (or went) to; not in repr or as_dict, which get printed.
    phone: str | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "delivery_status": self.delivery_status,
            "id_sms": self.id_sms,
            "error": self.error,
            "attempts_left": self.attempts_left,
            "sends": self.sends,
            "created_at": self.created_at,
            "sent_at": self.sent_at,
            "expires_at": self.expires_at,
            "history": self.history,
        }


def _int(value: str | None) -> int | None:
    return int(float(value)) if value else None


@translated
def get_status(verification_id: str, *, runtime: Runtime | None = None) -> VerificationStatus:
    rt = runtime_or_default(runtime)
    require_verification_id(verification_id)
    record, history = rt.store.load(verification_id)
    if not record:
        raise VerificationNotFound(NOT_FOUND)
    error = None
    if record.get("error_code"):
        error = {"code": record["error_code"], "message": record.get("error_message", "")}
    return VerificationStatus(
        id=verification_id,
        state=record.get("state", "unknown"),
        delivery_status=record.get("delivery_status") or None,
        id_sms=record.get("id_sms") or None,
        error=error,
        attempts_left=_int(record.get("attempts_left")) or 0,
        sends=_int(record.get("sends")) or 0,
        created_at=_int(record.get("created_at")),
        sent_at=_int(record.get("sent_at")),
        expires_at=_int(record.get("expires_at")),
        history=history,
        phone=record.get("phone") or None,
    )


@translated
def cancel(verification_id: str, *, runtime: Runtime | None = None) -> bool:
    """Stop a verification: its code no longer verifies. False when it was already verified."""
    rt = runtime_or_default(runtime)
    require_verification_id(verification_id)
    outcome = rt.store.cancel(verification_id).outcome
    if outcome is CancelOutcome.MISSING:
        raise VerificationNotFound(NOT_FOUND)
    return outcome is CancelOutcome.CANCELED
