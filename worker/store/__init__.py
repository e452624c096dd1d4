"""Our Redis state behind one door: key names, Lua steps and Redis' exceptions stay in here."""

from .redis_store import STATS_BUCKET_SECONDS, EventFeed, GatewayTimings, Store, connect
from .results import (
    Claim,
    ClaimOutcome,
    Created,
    PollTask,
    Refusal,
    ResendOutcome,
    SmsSubject,
    Stored,
    Verdict,
)
from .scripts import StoreUnavailable

__all__ = [
    "STATS_BUCKET_SECONDS",
    "Claim",
    "ClaimOutcome",
    "Created",
    "EventFeed",
    "GatewayTimings",
    "PollTask",
    "Refusal",
    "ResendOutcome",
    "SmsSubject",
    "Store",
    "StoreUnavailable",
    "Stored",
    "Verdict",
    "connect",
]
