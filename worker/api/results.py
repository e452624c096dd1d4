"""What the producer API answers, thread or asyncio alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from worker.core.outcomes import RecordState

__all__ = ["CodeRequest", "VerificationStatus", "VerifyResult"]


@dataclass(frozen=True, slots=True)
class CodeRequest:
    id: str
    state: RecordState  # queued for a new request; an earlier request's own state otherwise
    created: bool  # False when an idempotency key returned an earlier request


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    reason: str  # a VerifyReason: ok, wrong, locked, expired, already_used, rate_limited, ...
    attempts_left: int
    retry_after: int | None = None  # rate_limited: seconds until guesses are allowed again
    # When ok (only then): the E.164 number this code proved, the identity to log in. Never
    # what the user typed or what the app remembers: those can name someone else's number.
    phone: str | None = field(default=None, repr=False)


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
