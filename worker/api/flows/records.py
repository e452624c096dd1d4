"""``get_status`` and ``cancel``: one verification's record read back, or stopped."""

from __future__ import annotations

from worker.api.flows.validation import NOT_FOUND, require_verification_id
from worker.api.io import Flow, on_store
from worker.api.results import VerificationStatus
from worker.errors import VerificationNotFound
from worker.store import CancelOutcome, Store

__all__ = ["cancel", "get_status"]


def _int(value: str | None) -> int | None:
    return int(float(value)) if value else None


def get_status(verification_id: str) -> Flow[VerificationStatus]:
    require_verification_id(verification_id)
    record, history = yield from on_store(Store.load, verification_id)
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


def cancel(verification_id: str) -> Flow[bool]:
    """Stop a verification: its code no longer verifies. False when it was already verified."""
    require_verification_id(verification_id)
    canceled = yield from on_store(Store.cancel, verification_id)
    if canceled.outcome is CancelOutcome.MISSING:
        raise VerificationNotFound(NOT_FOUND)
    return canceled.outcome is CancelOutcome.CANCELED
