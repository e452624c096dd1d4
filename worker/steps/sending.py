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
from dataclasses import dataclass, replace
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_exponential

from worker.core.codes import code_digest
from worker.core.delivery import is_final
from worker.core.outcomes import SendVerdict
from worker.core.phone import Phone
from worker.errors import DeliveryFailed, DuplicateRequest, GatewayError
from worker.providers.models import SendResult
from worker.providers.retry import MaybeSent, call_with_retries
from worker.runtime import Runtime
from worker.settings import BUSY_RETRY_MAX_DELAY
from worker.steps.polling import POLL_MARKER_GRACE_MS, POLL_SLACK_MS, PUSH_FIRST_POLL_SECONDS
from worker.steps.test_numbers import store_test_number
from worker.store import Claim, ClaimOutcome, GatewayTimings, PollTask, Store, StoreUnavailable

__all__ = ["SendOutcome", "send_verification"]

T = TypeVar("T")
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
    def __init__(
        self,
        store: Store,
        verification_id: str,
        token: str,
        ttl_ms: int,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.verification_id = verification_id
        self.token = token
        self.ttl_ms = ttl_ms
        self.clock = clock
        self.sleep = sleep

    def until_stored(self, step: Callable[[], T]) -> T:
        """The gateway has answered: its outcome must reach the record, or the message goes
        back to the broker and its next delivery sends a second SMS. So a Redis that is away
        for a moment (a Sentinel failover: about 2 s) is waited out, for up to one lock's TTL;
        the step's token check keeps a write that comes too late harmless. Longer than that,
        ``StoreUnavailable`` hands the message back as before."""
        started = self.clock()
        # Nearly every step succeeds at once: the first attempt runs without tenacity's loop
        # (as in ``call_with_retries``); a failure is replayed as the loop's first attempt, so
        # every decision after it is tenacity's.
        try:
            return step()
        except StoreUnavailable as exc:
            first: StoreUnavailable | None = exc

        def out_of_time(state: RetryCallState) -> bool:
            return self.clock() - started >= self.ttl_ms / 1000

        for attempt in Retrying(
            retry=retry_if_exception_type(StoreUnavailable),
            stop=out_of_time,
            wait=wait_exponential(multiplier=0.1, max=1.0),
            sleep=self.sleep,
            reraise=True,
        ):
            with attempt:
                if first is not None:
                    replayed, first = first, None
                    raise replayed  # the first attempt, made above
                result = step()
                if attempt.retry_state.attempt_number > 1:
                    log.warning(
                        "send %s: the outcome stored once Redis was back", self.verification_id
                    )
                return result
        raise AssertionError("unreachable: Retrying reraises")  # pragma: no cover

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

    def sleep_until(
        self,
        when: float,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        accepted_at: float,
    ) -> None:
        """Wait, keeping the lock: a copy of this message must not send into the window. The
        refused attempt was not accepted: the record goes back to ``accepted_at``."""
        step = self.ttl_ms / 3000
        self.extend(attempt_ago=clock() - accepted_at)
        while (left := when - clock()) > 0:
            sleep(min(left, step))
            self.extend()


def send_verification(
    rt: Runtime,
    verification_id: str,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> SendOutcome:
    """Claim, call the gateway within the deadline, store the outcome under the same lock.

    The provider refuses a request identical to one it accepted shortly before
    (``DuplicateRequest``, its window in ``retry_after``). Met after an answer that may have
    been accepted (or by a send resumed after a worker died mid-call), that refusal means an SMS
    probably went out with a code we do not know, so the send waits the window out from that
    request and sends again if the deadline leaves room for an attempt;
    otherwise it ends ``failed`` with ``duplicate_request`` and ``resend`` works. The wait
    happens here, inside the task, holding and extending the lock, rather than as a Celery
    retry with a countdown: a countdown of a minute outlives the Redis broker's visibility
    timeout (the message would be delivered twice), and a send that let go of its lock would
    let any copy of the message claim it and run into the same refusal, or store beside it.
    It costs one pool slot for up to the window (TargetSMS: a minute), in a case that should
    be rare.

    ``clock`` and ``sleep`` (tests: a ``FakeClock`` and its ``sleep``, beside a Store on the same
    clock) are where the deadline, the window and the backoff read and spend time.
    """
    token = secrets.token_hex(8)
    lock_ttl_ms = int(rt.settings.lock_ttl_seconds * 1000)
    claim = rt.store.claim_send(verification_id, token, lock_ttl_ms)
    if claim.outcome is not ClaimOutcome.CLAIMED:
        return _not_claimed(verification_id, claim)
    if claim.phone in rt.settings.test_codes:  # a fixed code and no SMS (OTP_TEST_NUMBERS)
        return SendOutcome(store_test_number(rt, verification_id, token, claim.phone))
    log.debug(
        "send %s: claimed%s, %d ms before the deadline",
        verification_id,
        " (resumed)" if claim.resumed else "",
        claim.left_ms,
    )
    lock = _SendLock(rt.store, verification_id, token, lock_ttl_ms, clock, sleep)
    # The gateway requests' timings ride on the step that ends the send (metrics, no round trip).
    with rt.store.gateway_timings() as timings:
        try:
            result = _call_gateway(_GatewayCalls(rt, lock, claim, clock, sleep))
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


def _call_gateway(calls: _GatewayCalls) -> SendResult:
    """Call with retries within the deadline. A duplicate refusal that follows a request of
    ours that may have been accepted is waited out, holding the lock, and the call made again."""
    vid = calls.lock.verification_id
    while True:
        try:
            result = calls.with_retries()
        except DuplicateRequest as refusal:
            accepted_at = calls.accepted_at()
            if accepted_at is None:  # nothing of ours went out: another verification's request
                calls.log_failure(refusal)
                raise
            resend_at = calls.resend_at(refusal, accepted_at)
            if resend_at is None:
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
                resend_at - calls.clock(),
            )
            calls.wait_until(resend_at, accepted_at)
        except GatewayError as exc:
            calls.log_failure(exc)
            raise
        else:
            log.info(
                "sent %s id_sms=%s status=%s attempts=%d",
                vid, result.id_sms, result.status, calls.attempts,
            )  # fmt: skip
            return result


class _GatewayCalls:
    """One send's calls of the provider and what its retry loops share: the deadline, the
    attempts made, the maybe-sent budget, and when a request of ours may last have been
    accepted (a duplicate refusal's window runs from there)."""

    def __init__(
        self,
        rt: Runtime,
        lock: _SendLock,
        claim: Claim,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self.rt = rt
        self.lock = lock
        # The record holds only a number parse_phone accepted: the provider need not parse it.
        self.phone = Phone(e164=claim.phone, region=claim.region or "ZZ")
        self.text = rt.settings.codes.text_for(claim.locale)
        self.clock = clock
        self.sleep = sleep
        self.policy = rt.retry_policy
        now = clock()
        self.deadline = now + claim.left_ms / 1000
        self.attempts = 0
        self.maybe_sent = MaybeSent()
        since = _since(claim)
        self.resumed_from = None if since is None else now - since  # the predecessor's call
        self.waited_for: float | None = None  # the acceptance whose window was waited out

    def with_retries(self) -> SendResult:
        """One retry loop, with the attempts the earlier ones left."""
        codes = self.rt.settings.codes
        return call_with_retries(
            lambda time_left: self.rt.provider.send_code(
                self.phone, text=self.text, code_length=codes.length, time_left=time_left
            ),
            deadline=self.deadline,
            policy=replace(
                self.policy, max_attempts=max(1, self.policy.max_attempts - self.attempts)
            ),
            context=self.lock.verification_id,
            clock=self.clock,
            sleep=self.sleep,
            on_attempt=self._before_attempt,
            maybe_sent=self.maybe_sent,
        )

    def _before_attempt(self) -> None:
        self.attempts += 1
        if self.attempts > 1:  # the claim has just taken the lock and noted the first one
            self.lock.extend(attempt_ago=0)

    def accepted_at(self) -> float | None:
        """When a request of ours identical to the refused one may last have been accepted:
        the last maybe-sent answer, or a resumed send's predecessor's call."""
        known = (self.maybe_sent.last_at, self.resumed_from)
        return max((at for at in known if at is not None), default=None)

    def resend_at(self, refusal: DuplicateRequest, accepted_at: float) -> float | None:
        """Once the refusal's window after ``accepted_at`` is over; shortly, if that window was
        waited out already (the gateway accepted the request later than we know). None when
        the deadline or the attempts leave no room for one more."""
        if self.waited_for is not None and accepted_at <= self.waited_for:
            at = self.clock() + DUPLICATE_RECHECK_SECONDS
        else:
            at = accepted_at + refusal.retry_after + DUPLICATE_MARGIN_SECONDS
        if at + MIN_ATTEMPT_SECONDS > self.deadline or self.attempts >= self.policy.max_attempts:
            return None
        return at

    def wait_until(self, when: float, accepted_at: float) -> None:
        self.lock.sleep_until(when, self.clock, self.sleep, accepted_at=accepted_at)
        self.waited_for = accepted_at

    def log_failure(self, exc: GatewayError) -> None:
        spent = self.maybe_sent.spent
        log.warning(
            "send %s failed: %s after %d attempt(s)%s",
            self.lock.verification_id,
            exc.code,
            self.attempts,
            f", {spent} of them maybe sent" if spent else "",
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
    stored = lock.until_stored(lambda: lock.store.store_failed(
        lock.verification_id, lock.token, error_code=code, message=message,
        id_sms=id_sms, status=status, timings=timings,
    ))  # fmt: skip
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
    stored = lock.until_stored(
        lambda: lock.store.store_sent(
            vid,
            lock.token,
            code_digest=code_digest(rt.secret, vid, result.code),
            id_sms=result.id_sms,
            status=result.status,
            ttl_ms=s.codes.ttl_seconds * 1000,
            first_poll_ms=0 if is_final(result.status) else int(first_delay * 1000),
            max_attempts=s.codes.max_attempts,
            poll_ttl_ms=int((s.polling.max_age_seconds + s.polling.max_delay_seconds) * 1000)
            + 60_000,
            poll_slack_ms=POLL_SLACK_MS,
            poll_grace_ms=POLL_MARKER_GRACE_MS,
            poll_batch=s.polling.batch_size,
            timings=timings,
        )
    )
    if not stored.stored:
        log.warning("send %s: sent, but the record is now %s; code discarded", vid, stored.state)
        return SendOutcome(SendVerdict.SKIPPED)
    # store_sent also decided whether this send must queue the next poll task (one Lua call).
    return SendOutcome(SendVerdict.SENT, poll=stored.poll)
