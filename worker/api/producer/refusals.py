"""A refusal as the caller sees it (a stable code, a wait) and as operators do (a log, a count)."""

from __future__ import annotations

import contextlib
import logging

from worker.core.outcomes import RefusalCode
from worker.errors import RequestRefused
from worker.runtime import Runtime
from worker.store import Refusal, StoreUnavailable

__all__ = ["refuse", "refused", "whole_seconds"]

log = logging.getLogger("targetsms.producer")

_TOO_MANY = "too many requests; try again later"


def whole_seconds(ms: int) -> int:
    """A wait in milliseconds as the whole seconds a caller is told (at least 1)."""
    return max(1, -(-int(ms) // 1000))


def refuse(
    rt: Runtime, code: RefusalCode, message: str, why: str = "", retry_after: int | None = None
) -> RequestRefused:
    """The caller gets ``code``; the log line and the counters say which check fired."""
    reason = why or code
    log.warning("refused %s (%s)", code, reason)
    # A refusal is already decided; losing its counter must not fail it.
    with contextlib.suppress(StoreUnavailable):
        rt.store.count_refusal(reason)
    return RequestRefused(code, message, retry_after=retry_after)


def refused(rt: Runtime, refusal: Refusal) -> RequestRefused:
    """The store's refusal of an SMS (a limit, the deny list, step-up) for the caller."""
    if refusal.why.startswith("global_"):
        log.error("SMS budget reached (%s): refusing requests", refusal.why)
    messages = {
        RefusalCode.PHONE_NOT_ALLOWED: "SMS to this number is not enabled",
        RefusalCode.CAPTCHA_REQUIRED: "complete the captcha and try again",
    }
    wait = whole_seconds(refusal.retry_after_ms) if refusal.retry_after_ms else None
    return refuse(rt, refusal.code, messages.get(refusal.code, _TOO_MANY), refusal.why, wait)
