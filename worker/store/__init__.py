"""Our Redis state behind one door: key names, Lua steps and Redis' exceptions stay in here."""

from worker.store.connection import Topology
from worker.store.redis_store import STATS_BUCKET_SECONDS, EventFeed, GatewayTimings, Store, connect
from worker.store.results import (
    Canceled,
    CancelOutcome,
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
from worker.store.scripts import StoreUnavailable

__all__ = [
    "STATS_BUCKET_SECONDS",
    "CancelOutcome",
    "Canceled",
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
    "Topology",
    "Verdict",
    "connect",
]
