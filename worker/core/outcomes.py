"""The words the product answers with: record states, verify reasons, refusal codes.

They are ``StrEnum`` members, so they compare equal to the strings the README documents (a web
app may keep writing ``result.reason == "wrong"``) while code inside the project cannot misspell
them.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["RecordState", "RefusalCode", "SendVerdict", "VerifyReason"]


class RecordState(StrEnum):
    """A verification's ``state`` (fixed: checked from outside)."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    VERIFIED = "verified"
    EXPIRED = "expired"
    LOCKED = "locked"
    CANCELED = "canceled"


class SendVerdict(StrEnum):
    """What one run of the send step ended with (the Celery task's result)."""

    SENT = "sent"  # the provider accepted it; the code's HMAC is stored
    FAILED = "failed"  # the record is final ``failed`` with a stable error code
    SKIPPED = "skipped"  # nothing to do: already sent, canceled, or taken over by another send
    BUSY = "busy"  # another worker holds the send lock: try again later
    MISSING = "missing"  # no such record (expired or never written)


class VerifyReason(StrEnum):
    """Why ``verify_code`` said what it said."""

    OK = "ok"
    WRONG = "wrong"
    LOCKED = "locked"
    EXPIRED = "expired"
    ALREADY_USED = "already_used"
    NOT_SENT_YET = "not_sent_yet"
    RATE_LIMITED = "rate_limited"
    FAILED = "failed"
    CANCELED = "canceled"
    UNKNOWN = "unknown"
    INVALID_IP = "invalid_ip"  # the caller's client_ip is not an address: nothing was compared


class RefusalCode(StrEnum):
    """``RequestRefused.code``: what the caller is told (the log says which check fired)."""

    INVALID_PHONE = "invalid_phone"
    INVALID_IP = "invalid_ip"
    COUNTRY_NOT_ALLOWED = "country_not_allowed"
    PHONE_NOT_ALLOWED = "phone_not_allowed"
    RATE_LIMITED = "rate_limited"
    CAPTCHA_REQUIRED = "captcha_required"
    CAPTCHA_FAILED = "captcha_failed"
    NOT_ALLOWED = "not_allowed"
