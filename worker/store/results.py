"""What the Store's steps answer, typed: no positional arrays read as ``out[0]``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from worker.core.outcomes import RefusalCode, VerifyReason

__all__ = [
    "CancelOutcome",
    "Canceled",
    "Claim",
    "ClaimOutcome",
    "Created",
    "Overdue",
    "PollTask",
    "Refusal",
    "ResendOutcome",
    "SmsSubject",
    "Stored",
    "Swept",
    "Verdict",
    "poll_task",
]


@dataclass(frozen=True, slots=True)
class Refusal:
    """The gate said no. ``code`` is for the caller; ``why`` (which check fired) for the log."""

    code: RefusalCode
    why: str
    retry_after_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Created:
    id: str
    existing: bool  # an idempotency key returned this phone's earlier verification
    pumping_flagged: bool = False  # this SMS made its prefix suspected of pumping


@dataclass(frozen=True, slots=True)
class SmsSubject:
    """What a resend needs to know about a verification to pass its SMS through the gate."""

    phone: str
    region: str
    sends: int


class ResendOutcome(StrEnum):
    RESENT = "resent"
    IN_FLIGHT = "in_flight"  # a send is still within its deadline
    CHANGED = "changed"  # a parallel resend got there first
    MISSING = "missing"
    NOT_ALLOWED = "not_allowed"


class CancelOutcome(StrEnum):
    CANCELED = "canceled"
    MISSING = "missing"
    NOT_ALLOWED = "not_allowed"  # already final (verified, failed, ...): ``state`` says which


@dataclass(frozen=True, slots=True)
class Canceled:
    outcome: CancelOutcome
    state: str = ""


@dataclass(frozen=True, slots=True)
class Verdict:
    reason: VerifyReason
    attempts_left: int
    retry_after_ms: int = 0
    phone: str | None = field(default=None, repr=False)  # ok: the record's E.164 number


class ClaimOutcome(StrEnum):
    CLAIMED = "claimed"
    DONE = "done"  # already sent, failed, verified...: nothing to send
    MISSING = "missing"
    BUSY = "busy"  # another worker holds the send lock
    DEADLINE = "deadline"  # too late: the record is now failed


@dataclass(frozen=True, slots=True)
class Claim:
    outcome: ClaimOutcome
    phone: str = ""
    left_ms: int = 0
    state: str = ""
    lock_ms: int = 0
    resumed: bool = False  # claimed from `sending`: an earlier send's request may have gone out
    # resumed: how long ago the last attempt that may have been accepted started (None: unknown)
    since_attempt_ms: int | None = None
    locale: str = ""  # the language code the text is picked by ("": the default text)
    region: str = ""  # the phone's region, as ``parse_phone`` found it when the record was made


@dataclass(frozen=True, slots=True)
class PollTask:
    """A poll task to queue now: its marker and the delay before it is due."""

    marker: str
    delay_seconds: float


def poll_task(answer: Mapping[str, Any]) -> PollTask | None:
    """The poll task a step's {due_ms, delay_ms} asks for (due_ms 0: none to queue)."""
    due_ms = int(answer["due_ms"])
    return PollTask(str(due_ms), int(answer["delay_ms"]) / 1000) if due_ms else None


@dataclass(frozen=True, slots=True)
class Stored:
    stored: bool  # False: the record moved on (canceled, or another claimant's send)
    state: str = ""
    poll: PollTask | None = None


@dataclass(frozen=True, slots=True)
class Overdue:
    """Pending sends past their grace (``count``), and how many send messages had been
    published when they were counted: read before the broker's depth, so a message published
    in between is one the queue holds and the count does not (a send is postponed, not
    doubled)."""

    count: int = 0
    published: int = 0


@dataclass(frozen=True, slots=True)
class Swept:
    """A sweep of pending sends: ``ids`` to enqueue again, ``dropped`` ids with nothing to send,
    ``postponed`` due ids left due, as their message is probably still queued."""

    ids: tuple[str, ...] = ()
    dropped: int = 0
    postponed: int = 0
