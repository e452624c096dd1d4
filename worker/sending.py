"""Sending one verification's code: the plain function behind the ``send_code`` task.

Idempotent by construction: the send lock and the record's state decide whether to call the
gateway at all, so a redelivered or duplicated message never sends a second SMS while the
first attempt is alive or done.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
import traceback
from dataclasses import dataclass

from .codes import code_digest
from .gateway import DeliveryFailed, GatewayError, call_with_retries, is_final
from .polling import POLL_MARKER_GRACE_MS, POLL_SLACK_MS
from .runtime import Runtime
from .settings import BUSY_RETRY_MAX_DELAY
from .store import UNAVAILABLE

__all__ = ["SendOutcome", "send_verification"]

log = logging.getLogger("targetsms.send")


@dataclass(frozen=True, slots=True)
class SendOutcome:
    result: str  # sent, failed, skipped, busy, missing
    retry_in: float | None = None  # busy: try again after this many seconds
    poll: tuple[str, float] | None = None  # (marker, delay seconds) for a poll task to queue


def send_verification(rt: Runtime, verification_id: str) -> SendOutcome:
    s = rt.settings
    store = rt.store
    token = secrets.token_hex(8)
    claim = store.claim_send(verification_id, token, int(s.lock_ttl_seconds * 1000))
    if claim[0] == "missing":
        log.warning("send %s: no record (expired or never created)", verification_id)
        return SendOutcome("missing")
    if claim[0] == "done":
        log.info("send %s: already %s, not sending again", verification_id, claim[1])
        return SendOutcome("skipped")
    if claim[0] == "deadline":
        log.warning("send %s: deadline passed before a worker took it", verification_id)
        return SendOutcome("failed")
    if claim[0] == "busy":
        log.info(
            "send %s: another worker holds the send lock (%s ms left)", verification_id, claim[1]
        )
        return SendOutcome("busy", retry_in=min(int(claim[1]) / 1000, BUSY_RETRY_MAX_DELAY))
    phone, left_ms = str(claim[1]), int(claim[2])
    log.debug(
        "send %s: claimed, %.1f s left before the send deadline", verification_id, left_ms / 1000
    )

    attempts = 0
    lock_ttl_ms = int(s.lock_ttl_seconds * 1000)

    def before_attempt(n: int) -> None:
        nonlocal attempts
        attempts = n
        if n > 1:
            # Best effort: if Redis blinks here the lock may lapse early, and the record's
            # state still keeps a second worker from sending once this one has stored.
            with contextlib.suppress(*UNAVAILABLE):
                store.extend_lock(verification_id, token, lock_ttl_ms)

    try:
        result = call_with_retries(
            lambda time_left: rt.gateway.send_code(
                phone, text=s.codes.message_text, code_length=s.codes.length, time_left=time_left
            ),
            deadline=time.time() + left_ms / 1000,
            policy=rt.retry_policy,
            context=verification_id,
            on_attempt=before_attempt,
        )
    except DeliveryFailed as exc:
        log.warning("send %s failed: %s after %d attempt(s)", verification_id, exc.code, attempts)
        store.store_failed(
            verification_id,
            token,
            error_code=exc.code,
            message=exc.message,
            id_sms=exc.id_sms,
            status=exc.status,
        )
        return SendOutcome("failed")
    except GatewayError as exc:
        log.warning("send %s failed: %s after %d attempt(s)", verification_id, exc.code, attempts)
        store.store_failed(verification_id, token, error_code=exc.code, message=exc.message)
        return SendOutcome("failed")
    except UNAVAILABLE:
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
        store.store_failed(
            verification_id, token, error_code="internal_error", message="unexpected worker error"
        )
        return SendOutcome("failed")

    first_poll_ms = 0 if is_final(result.status) else int(s.polling.first_delay_seconds * 1000)
    stored = store.store_sent(
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
    if stored[0] != "sent":
        log.warning(
            "send %s: sent, but the record is now %s; code discarded", verification_id, stored[1]
        )
        return SendOutcome("skipped")
    log.info(
        "sent %s id_sms=%s status=%s attempts=%d",
        verification_id,
        result.id_sms,
        result.status,
        attempts,
    )
    # store_sent also decided whether this send must queue the next poll task (one Lua call).
    poll = (str(stored[1]), int(stored[2]) / 1000) if int(stored[1]) else None
    return SendOutcome("sent", poll=poll)
