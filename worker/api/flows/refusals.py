"""A refusal as the caller sees it (a stable code, a wait) and as operators do (a log, a count)."""

from __future__ import annotations

import contextlib
import logging

from worker.api.io import Flow, on_store
from worker.core.outcomes import RefusalCode
from worker.errors import RequestRefused
from worker.store import Refusal, Store, StoreUnavailable

__all__ = ["CAPTCHA_REQUIRED", "NOT_ENABLED", "refuse", "refused", "whole_seconds"]

log = logging.getLogger("targetsms.producer")

_TOO_MANY = "too many requests; try again later"
CAPTCHA_REQUIRED = "complete the captcha and try again"
NOT_ENABLED = "SMS to this number is not enabled"


def whole_seconds(ms: int) -> int:
    """A wait in milliseconds as the whole seconds a caller is told (at least 1)."""
    return max(1, -(-int(ms) // 1000))


def refuse(
    code: RefusalCode, message: str, why: str = "", retry_after: int | None = None
) -> Flow[RequestRefused]:
    """The caller gets ``code``; the log line and the counters say which check fired."""
    reason = why or code
    log.warning("refused %s (%s)", code, reason)
    # A refusal is already decided; losing its counter must not fail it.
    with contextlib.suppress(StoreUnavailable):
        yield from on_store(Store.count_refusal, reason)
    return RequestRefused(code, message, retry_after=retry_after)


def refused(refusal: Refusal) -> Flow[RequestRefused]:
    """The store's refusal of an SMS (a limit, the deny list, step-up) for the caller."""
    if refusal.why.startswith("global_"):
        log.error("SMS budget reached (%s): refusing requests", refusal.why)
    messages = {
        RefusalCode.PHONE_NOT_ALLOWED: NOT_ENABLED,
        RefusalCode.CAPTCHA_REQUIRED: CAPTCHA_REQUIRED,
    }
    wait = whole_seconds(refusal.retry_after_ms) if refusal.retry_after_ms else None
    message = messages.get(refusal.code, _TOO_MANY)
    return (yield from refuse(refusal.code, message, refusal.why, wait))
