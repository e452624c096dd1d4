"""Our Redis state behind one door: key names, Lua steps and Redis' exceptions stay in here."""

from worker.store.connection import Topology
from worker.store.core import STATS_BUCKET_SECONDS, connect
from worker.store.counters import GATEWAY_BUCKETS, GATEWAY_ENDPOINTS, GatewayTimings
from worker.store.events import EventFeed
from worker.store.redis_store import Store
from worker.store.results import (
    Canceled,
    CancelOutcome,
    Claim,
    ClaimOutcome,
    Created,
    Overdue,
    PollTask,
    Refusal,
    ResendOutcome,
    SmsSubject,
    Stored,
    Swept,
    Verdict,
)
from worker.store.scripts import StoreUnavailable

__all__ = [
    "GATEWAY_BUCKETS",
    "GATEWAY_ENDPOINTS",
    "STATS_BUCKET_SECONDS",
    "CancelOutcome",
    "Canceled",
    "Claim",
    "ClaimOutcome",
    "Created",
    "EventFeed",
    "GatewayTimings",
    "Overdue",
    "PollTask",
    "Refusal",
    "ResendOutcome",
    "SmsSubject",
    "Store",
    "StoreUnavailable",
    "Stored",
    "Swept",
    "Topology",
    "Verdict",
    "connect",
]
