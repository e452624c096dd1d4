"""Sending one verification's code: the plain function behind the ``send_code`` task.

Idempotent by construction: the send lock and the record's state decide whether to call the
gateway at all, so a redelivered or duplicated message never sends a second SMS while the
first attempt is alive or done. The lock is extended before every gateway attempt and a send
that finds it taken over stops without calling the gateway or storing anything: whoever claimed
it since is the newer send, and only its code may verify (the Store keeps the latest claimant
in the record and stores nothing for an older one).
"""

from __future__ import annotations

import logging
import secrets
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from worker.core.codes import code_digest
from worker.core.delivery import is_final
from worker.core.outcomes import SendVerdict
from worker.errors import DeliveryFailed, GatewayError
from worker.providers.targetsms import MaybeSent, RetryPolicy, SendResult, call_with_retries
from worker.runtime import Runtime
from worker.settings import BUSY_RETRY_MAX_DELAY
from worker.steps.polling import POLL_MARKER_GRACE_MS, POLL_SLACK_MS, PUSH_FIRST_POLL_SECONDS
from worker.store import Claim, ClaimOutcome, GatewayTimings, PollTask, Store, StoreUnavailable

__all__ = ["SendOutcome", "send_verification"]

log = logging.getLogger("targetsms.send")

# After waiting out the gateway's duplicate window, a send needs at least this long for one
# more attempt; with less left it ends ``duplicate_request`` at once instead.
MIN_ATTEMPT_SECONDS = 2.0
# Beyond the duplicate window itself: clocks and the gateway's own timing differ a little.
DUPLICATE_MARGIN_SECONDS = 1.0
# Refused again once that window is over: the gateway accepted the request a little later than
# we know (a resumed send knows only when its predecessor's call started); ask again this soon.
DUPLICATE_RECHECK_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class SendOutcome:
    result: SendVerdict
    retry_in: float | None = None  # busy: try again after this many seconds
    poll: PollTask | None = None  # a poll task to queue
    error: str | None = None  # failed: the stable error code stored on the record


class _LockLost(Exception):
    """Another worker claimed this send since: do not call the gateway, do not store."""


class _SendLock:
    def __init__(self, store: Store, verification_id: str, token: str, ttl_ms: int) -> None:
        self.store = store
        self.verification_id = verification_id
        self.token = token
        self.ttl_ms = ttl_ms

    def extend(self, attempt_ago: float | None = None) -> None:
        """``attempt_ago``: note in the record when the last attempt that may have been accepted
        started (0: one starts now), so that a send resumed after this worker dies waits out
        the gateway's window from there."""
        # Redis being away raises here: the task hands the message back (see tasks/send.py).
        ago_ms = None if attempt_ago is None else int(attempt_ago * 1000)
        if not self.store.extend_lock(
            self.verification_id, self.token, self.ttl_ms, attempt_ago_ms=ago_ms
        ):
            raise _LockLost

    def sleep_until(self, when: float, clock: Callable[[], float], accepted_at: float) -> None:
        """Wait, keeping the lock: a copy of this message must not send into the window. The
        refused attempt was not accepted: the record goes back to ``accepted_at``."""
        step = self.ttl_ms / 3000
        self.extend(attempt_ago=clock() - accepted_at)
        while (left := when - clock()) > 0:
            time.sleep(min(left, step))
            self.extend()


def send_verification(rt: Runtime, verification_id: str) -> SendOutcome:
    """Claim, call the gateway within the deadline, store the outcome under the same lock.

    The platform refuses a request identical to one it accepted less than a minute earlier.
    Met after an answer that may have been accepted (or by a send resumed after a worker died
    mid-call), that refusal means an SMS probably went out with a code we do not know, so the
    send waits the window out and sends again if the deadline leaves room for an attempt;
    otherwise it ends ``failed`` with ``duplicate_request`` and ``resend`` works. The wait
    happens here, inside the task, holding and extending the lock, rather than as a Celery
    retry with a countdown: a countdown of a minute outlives the Redis broker's visibility
    timeout (the message would be delivered twice), and a send that let go of its lock would
    let any copy of the message claim it and run into the same refusal, or store beside it.
    It costs one pool slot for up to a minute, in a case that should be rare.
    """
    token = secrets.token_hex(8)
    lock_ttl_ms = int(rt.settings.lock_ttl_seconds * 1000)
    claim = rt.store.claim_send(verification_id, token, lock_ttl_ms)
    if claim.outcome is not ClaimOutcome.CLAIMED:
        return _not_claimed(verification_id, claim)
    log.debug(
        "send %s: claimed%s, %d ms before the deadline",
        verification_id,
        " (resumed)" if claim.resumed else "",
        claim.left_ms,
    )
    lock = _SendLock(rt.store, verification_id, token, lock_ttl_ms)
    # The gateway requests' timings ride on the step that ends the send (metrics, no round trip).
    with rt.store.gateway_timings() as timings:
        try:
            result = _call_gateway(rt, lock, claim.phone, claim.left_ms / 1000, _since(claim))
        except _LockLost:
            log.warning("send %s: another worker took the send over; stopped", verification_id)
            return SendOutcome(SendVerdict.SKIPPED)
        except DeliveryFailed as exc:
            return _store_failed(
                lock, exc.code, exc.message, id_sms=exc.id_sms, status=exc.status, timings=timings
            )
        except GatewayError as exc:
            return _store_failed(lock, exc.code, exc.message, timings=timings)
        except StoreUnavailable:
            raise  # Redis is away: the task hands the message back
        except Exception as exc:
            # A bug, not a gateway answer: fail the record rather than leave it "sending", and
            # log where it happened without the exception text (it might quote a value).
            log.error(
                "send %s: unexpected %s\n%s",
                verification_id,
                type(exc).__name__,
                "".join(traceback.format_tb(exc.__traceback__)),
            )
            return _store_failed(lock, "internal_error", "unexpected worker error", timings=timings)
        return _store_sent(rt, lock, result, timings)


def _not_claimed(verification_id: str, claim: Claim) -> SendOutcome:
    if claim.outcome is ClaimOutcome.MISSING:
        log.warning("send %s: no record (expired or never created)", verification_id)
        return SendOutcome(SendVerdict.MISSING)
    if claim.outcome is ClaimOutcome.DONE:
        log.info("send %s: already %s, not sending again", verification_id, claim.state)
        return SendOutcome(SendVerdict.SKIPPED)
    if claim.outcome is ClaimOutcome.DEADLINE:
        log.warning("send %s: deadline passed before a worker took it", verification_id)
        return SendOutcome(
            SendVerdict.FAILED, error="deadline_exceeded"
        )  # as claim_send.lua stores it
    log.info("send %s: another worker holds the send lock (%d ms)", verification_id, claim.lock_ms)
    return SendOutcome(SendVerdict.BUSY, retry_in=min(claim.lock_ms / 1000, BUSY_RETRY_MAX_DELAY))


def _since(claim: Claim) -> float | None:
    """Seconds since a resumed send's predecessor started its last attempt that may have been
    accepted (the record notes it before each call); None for a fresh send."""
    if not claim.resumed:
        return None
    return (claim.since_attempt_ms or 0) / 1000  # a record without the note: the claim itself


def _call_gateway(
    rt: Runtime, lock: _SendLock, phone: str, seconds_left: float, since: float | None
) -> SendResult:
    s = rt.settings
    vid = lock.verification_id
    clock = time.time
    deadline = clock() + seconds_left
    maybe_sent = MaybeSent()
    # When an identical request may last have been accepted: a resumed send's predecessor
    # started its call that long before this claim, and the gateway's window runs from then.
    accepted_at = None if since is None else clock() - since
    waited_for: float | None = None  # the acceptance whose window this send has waited out
    attempts = 0
    window = s.gateway.duplicate_window_seconds
    policy = rt.retry_policy

    def before_attempt(n: int) -> None:
        nonlocal attempts
        attempts += 1
        if attempts > 1:  # the claim has just taken the lock (and noted) the first one
            lock.extend(attempt_ago=0)

    while True:
        try:
            result = call_with_retries(
                lambda time_left: rt.provider.send_code(
                    phone,
                    text=s.codes.message_text,
                    code_length=s.codes.length,
                    time_left=time_left,
                ),
                deadline=deadline,
                policy=RetryPolicy(
                    max_attempts=max(1, policy.max_attempts - attempts),
                    initial_delay=policy.initial_delay,
                    max_delay=policy.max_delay,
                    jitter=policy.jitter,
                ),
                context=vid,
                clock=clock,
                on_attempt=before_attempt,
                maybe_sent=maybe_sent,
            )
        except GatewayError as exc:
            known = [t for t in (maybe_sent.last_at, accepted_at) if t is not None]
            if exc.code != "duplicate_request" or not known:
                _log_failure(vid, exc, attempts, maybe_sent)
                raise
            # Our own earlier request was probably accepted: an SMS with an unknown code.
            anchor = max(known)
            retry_at = anchor + window + DUPLICATE_MARGIN_SECONDS
            if waited_for is not None and anchor <= waited_for:
                retry_at = clock() + DUPLICATE_RECHECK_SECONDS
            if retry_at + MIN_ATTEMPT_SECONDS > deadline or attempts >= policy.max_attempts:
                log.warning(
                    "send %s: duplicate refused; an SMS probably went out with an unknown code "
                    "and the deadline ends before the gateway's window does",
                    vid,
                )
                raise
            log.warning(
                "send %s: duplicate refused; an SMS probably went out with an unknown code; "
                "sending again in %.1f s",
                vid,
                retry_at - clock(),
            )
            lock.sleep_until(retry_at, clock, accepted_at=anchor)
            waited_for = anchor
            continue
        log.info(
            "sent %s id_sms=%s status=%s attempts=%d", vid, result.id_sms, result.status, attempts
        )
        return result


def _log_failure(vid: str, exc: GatewayError, attempts: int, maybe_sent: MaybeSent) -> None:
    log.warning(
        "send %s failed: %s after %d attempt(s)%s",
        vid,
        exc.code,
        attempts,
        f", {maybe_sent.spent} of them maybe sent" if maybe_sent.spent else "",
    )


def _store_failed(
    lock: _SendLock,
    code: str,
    message: str,
    *,
    id_sms: str = "",
    status: str = "",
    timings: GatewayTimings,
) -> SendOutcome:
    stored = lock.store.store_failed(
        lock.verification_id, lock.token, error_code=code, message=message,
        id_sms=id_sms, status=status, timings=timings,
    )  # fmt: skip
    if not stored.stored:
        log.warning("send %s: failed, but the record is now %s", lock.verification_id, stored.state)
        return SendOutcome(SendVerdict.SKIPPED)
    return SendOutcome(SendVerdict.FAILED, error=code)


def _store_sent(
    rt: Runtime, lock: _SendLock, result: SendResult, timings: GatewayTimings
) -> SendOutcome:
    s = rt.settings
    vid = lock.verification_id
    first_delay = s.polling.first_delay_seconds
    if s.gateway.push:  # statuses arrive by push: the poll is only a late safety net
        first_delay = max(first_delay, PUSH_FIRST_POLL_SECONDS)
    stored = lock.store.store_sent(
        vid,
        lock.token,
        code_digest=code_digest(rt.secret, vid, result.code),
        id_sms=result.id_sms,
        status=result.status,
        ttl_ms=s.codes.ttl_seconds * 1000,
        first_poll_ms=0 if is_final(result.status) else int(first_delay * 1000),
        max_attempts=s.codes.max_attempts,
        poll_ttl_ms=int((s.polling.max_age_seconds + s.polling.max_delay_seconds) * 1000) + 60_000,
        poll_slack_ms=POLL_SLACK_MS,
        poll_grace_ms=POLL_MARKER_GRACE_MS,
        poll_batch=s.polling.batch_size,
        timings=timings,
    )
    if not stored.stored:
        log.warning("send %s: sent, but the record is now %s; code discarded", vid, stored.state)
        return SendOutcome(SendVerdict.SKIPPED)
    # store_sent also decided whether this send must queue the next poll task (one Lua call).
    return SendOutcome(SendVerdict.SENT, poll=stored.poll)
