"""Retrying a gateway call with tenacity, bounded by attempts AND by a wall-clock deadline.

A code that arrives after the user gave up is money wasted, so the deadline wins over the
attempt count: no attempt starts, and no sleep is taken, that would end past it. Each HTTP call
is told the time that is left, to cap its own timeouts with.

Failures marked ``maybe_sent`` (an unreadable 2xx, no complete answer after the request went
out) may each have been billed, so they draw on a small budget (``MaybeSent``, 2 by default):
the one that uses it up is not retried, however much time is left. Clear failures (refused
connections, 5xx pages, ``connection_error``) are retried as before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_any,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base

from worker.errors import GatewayError, NetworkError

__all__ = ["MAX_MAYBE_SENT", "MaybeSent", "RetryPolicy", "call_with_retries"]

#: Answers that may have cost an SMS that one send may spend: the first is retried once.
MAX_MAYBE_SENT = 2

T = TypeVar("T")
log = logging.getLogger("targetsms.gateway")


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How many attempts one retry loop may make, and the exponential backoff between them."""

    max_attempts: int = 6
    initial_delay: float = 0.5  # seconds
    max_delay: float = 8.0
    jitter: float = 0.5


@dataclass(slots=True)
class MaybeSent:
    """The "maybe sent" answers one send has spent, kept across its calls of the retry loop."""

    limit: int = MAX_MAYBE_SENT
    spent: int = 0
    last_at: float | None = None  # when the last one ended (the retry loop's clock)

    @property
    def exhausted(self) -> bool:
        return self.spent >= self.limit


class _StopAtDeadline(stop_base):
    """Stop when the next sleep would end at or past the deadline."""

    def __init__(self, deadline: float, clock: Callable[[], float]) -> None:
        self.deadline = deadline
        self.clock = clock

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.clock() + retry_state.upcoming_sleep >= self.deadline - 0.05


def call_with_retries(
    call: Callable[[float], T],
    *,
    deadline: float,
    policy: RetryPolicy | None = None,
    context: str = "",
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    on_attempt: Callable[[], None] | None = None,
    maybe_sent: MaybeSent | None = None,
) -> T:
    """Run ``call(seconds_left)`` until it succeeds, fails permanently, or time, attempts or
    the ``maybe_sent`` budget run out.

    The last error is re-raised as it is. ``context`` (e.g. a verification id) goes into the
    retry log lines; it must not be a secret. ``on_attempt`` runs before each attempt and may
    raise to stop the loop (anything but a ``GatewayError`` is never retried). ``clock`` and
    ``sleep`` are where the deadline and the backoff read and spend time (tests: a fake clock).
    """
    policy = policy or RetryPolicy()
    budget = maybe_sent if maybe_sent is not None else MaybeSent()

    def retryable(exc: BaseException) -> bool:
        if not isinstance(exc, GatewayError) or not exc.transient:
            return False
        return not (exc.maybe_sent and budget.exhausted)

    def log_retry(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        code = exc.code if isinstance(exc, GatewayError) else type(exc).__name__
        log.warning(
            "gateway attempt %d failed (%s)%s; retrying in %.2fs",
            state.attempt_number,
            code,
            f" for {context}" if context else "",
            state.upcoming_sleep,
        )

    def attempt_once() -> T:
        left = deadline - clock()
        if left <= 0:
            raise NetworkError("send deadline passed before the gateway answered", code="timeout")
        if on_attempt is not None:
            on_attempt()
        try:
            return call(left)
        except GatewayError as exc:
            if exc.maybe_sent:
                budget.spent += 1
                budget.last_at = clock()
            raise

    # Nearly every call succeeds at once, and tenacity's loop costs about as much CPU as building
    # and parsing the request's XML (BENCHMARKS.md): the first attempt runs on its own. When it
    # fails, its exception is replayed as tenacity's first attempt, so every decision after it
    # (retry or not, stop, the backoff, the log line) is tenacity's, exactly as before.
    try:
        return attempt_once()
    except Exception as exc:
        first: Exception | None = exc
    retrying = Retrying(
        retry=retry_if_exception(retryable),
        stop=stop_any(stop_after_attempt(policy.max_attempts), _StopAtDeadline(deadline, clock)),
        wait=wait_exponential_jitter(
            multiplier=policy.initial_delay, max=policy.max_delay, jitter=policy.jitter
        ),
        before_sleep=log_retry,
        sleep=sleep,
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            if first is not None:
                replayed, first = first, None
                raise replayed  # the first attempt, made above
            return attempt_once()
    raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover
