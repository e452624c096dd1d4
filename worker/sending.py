"""Sending one verification's code: the plain function behind the ``send_code`` task.

Idempotent by construction: the send lock and the record's state decide whether to call the
gateway at all, so a redelivered or duplicated message never sends a second SMS while the
first attempt is alive or done; and only the latest claimant may store a result.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
import traceback
from dataclasses import dataclass

from .codes import code_digest
from .gateway import DeliveryFailed, GatewayError, SendResult, call_with_retries, is_final
from .polling import POLL_MARKER_GRACE_MS, POLL_SLACK_MS, PUSH_FIRST_POLL_SECONDS
from .runtime import Runtime
from .settings import BUSY_RETRY_MAX_DELAY
from .store import Claim, ClaimOutcome, PollTask, StoreUnavailable

__all__ = ["SendOutcome", "send_verification"]

log = logging.getLogger("targetsms.send")


@dataclass(frozen=True, slots=True)
class SendOutcome:
    result: str  # sent, failed, skipped, busy, missing
    retry_in: float | None = None  # busy: try again after this many seconds
    poll: PollTask | None = None  # a poll task to queue
    error: str | None = None  # failed: the stable error code


class _LockLost(Exception):
    """Another worker took this send over: stop before calling the gateway again."""


def send_verification(rt: Runtime, verification_id: str) -> SendOutcome:
    token = secrets.token_hex(8)
    claim = rt.store.claim_send(verification_id, token, int(rt.settings.lock_ttl_seconds * 1000))
    if claim.outcome is not ClaimOutcome.CLAIMED:
        return _not_claimed(verification_id, claim)
    log.debug(
        "send %s: claimed, %.1f s left before the deadline", verification_id, claim.left_ms / 1000
    )
    try:
        result = _call_gateway(rt, verification_id, token, claim)
    except _Failed as failure:
        return failure.outcome
    return _store_sent(rt, verification_id, token, result)


def _not_claimed(verification_id: str, claim: Claim) -> SendOutcome:
    if claim.outcome is ClaimOutcome.MISSING:
        log.warning("send %s: no record (expired or never created)", verification_id)
        return SendOutcome("missing")
    if claim.outcome is ClaimOutcome.DONE:
        log.info("send %s: already %s, not sending again", verification_id, claim.state)
        return SendOutcome("skipped")
    if claim.outcome is ClaimOutcome.DEADLINE:
        log.warning("send %s: deadline passed before a worker took it", verification_id)
        return SendOutcome("failed", error="deadline_exceeded")
    log.info(
        "send %s: another worker holds the send lock (%s ms left)", verification_id, claim.lock_ms
    )
    return SendOutcome("busy", retry_in=min(claim.lock_ms / 1000, BUSY_RETRY_MAX_DELAY))


class _Failed(Exception):
    def __init__(self, outcome: SendOutcome) -> None:
        self.outcome = outcome


def _call_gateway(rt: Runtime, verification_id: str, token: str, claim: Claim) -> SendResult:
    """The gateway call with retries within the send deadline; a failure is stored, then
    raised as ``_Failed`` with the outcome to report."""
    s = rt.settings
    lock_ttl_ms = int(s.lock_ttl_seconds * 1000)
    attempts = 0

    def before_attempt(n: int) -> None:
        nonlocal attempts
        attempts = n
        if n > 1:
            # If Redis blinks here, go on: the claim in the record still keeps a second
            # worker's result from being stored over ours, and ours over theirs.
            with contextlib.suppress(StoreUnavailable):
                if not rt.store.extend_lock(verification_id, token, lock_ttl_ms):
                    raise _LockLost

    def failed(code: str, message: str, id_sms: str = "", status: str = "") -> _Failed:
        log.warning("send %s failed: %s after %d attempt(s)", verification_id, code, attempts)
        rt.store.store_failed(
            verification_id, token, error_code=code, message=message, id_sms=id_sms, status=status
        )
        return _Failed(SendOutcome("failed", error=code))

    try:
        return call_with_retries(
            lambda time_left: rt.gateway.send_code(
                claim.phone,
                text=s.codes.message_text,
                code_length=s.codes.length,
                time_left=time_left,
            ),
            deadline=time.time() + claim.left_ms / 1000,
            policy=rt.retry_policy,
            context=verification_id,
            on_attempt=before_attempt,
        )
    except _LockLost:
        log.warning("send %s: another worker took the send over; stopping", verification_id)
        raise _Failed(SendOutcome("skipped")) from None
    except DeliveryFailed as exc:
        raise failed(exc.code, exc.message, exc.id_sms, exc.status) from None
    except GatewayError as exc:
        raise failed(exc.code, exc.message) from None
    except StoreUnavailable:
        raise  # Redis is away: the task hands the message back
    except Exception as exc:
        # A bug, not a gateway answer: fail the record rather than leave it "sending", and log
        # where it happened without the exception text (it might quote a value).
        log.error(
            "send %s: unexpected %s\n%s",
            verification_id,
            type(exc).__name__,
            "".join(traceback.format_tb(exc.__traceback__)),
        )
        raise failed("internal_error", "unexpected worker error") from None


def _store_sent(rt: Runtime, verification_id: str, token: str, result: SendResult) -> SendOutcome:
    s = rt.settings
    first_delay = s.polling.first_delay_seconds
    if s.gateway.push:  # statuses arrive by push: the poll is only a late safety net
        first_delay = max(first_delay, PUSH_FIRST_POLL_SECONDS)
    first_poll_ms = 0 if is_final(result.status) else int(first_delay * 1000)
    stored = rt.store.store_sent(
        verification_id,
        token,
        code_digest=code_digest(rt.secret, verification_id, result.code),
        id_sms=result.id_sms,
        status=result.status,
        ttl_ms=s.codes.ttl_seconds * 1000,
        first_poll_ms=first_poll_ms,
        max_attempts=s.codes.max_attempts,
        poll_ttl_ms=int((s.polling.max_age_seconds + s.polling.max_delay_seconds) * 1000) + 60_000,
        poll_slack_ms=POLL_SLACK_MS,
        poll_grace_ms=POLL_MARKER_GRACE_MS,
        poll_batch=s.polling.batch_size,
    )
    if not stored.stored:
        log.warning(
            "send %s: sent, but the record is now %s; code discarded", verification_id, stored.state
        )
        return SendOutcome("skipped")
    log.info("sent %s id_sms=%s status=%s", verification_id, result.id_sms, result.status)
    # store_sent also decided whether this send must queue the next poll task (one Lua call).
    return SendOutcome("sent", poll=stored.poll)
