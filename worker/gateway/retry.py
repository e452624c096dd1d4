"""Retrying a gateway call with tenacity, bounded by attempts AND by a wall-clock deadline.

A code that arrives after the user gave up is money wasted, so the deadline wins over the
attempt count: no attempt starts, and no sleep is taken, that would end past it. Each HTTP call
is told the time that is left, to cap its own timeouts with.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
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

from .errors import GatewayError, NetworkError

__all__ = ["RetryPolicy", "call_with_retries"]

T = TypeVar("T")
log = logging.getLogger("targetsms.gateway")


class RetryPolicy:
    def __init__(
        self,
        *,
        max_attempts: int = 6,
        initial_delay: float = 0.5,
        max_delay: float = 8.0,
        jitter: float = 0.5,
    ) -> None:
        self.max_attempts = max_attempts
        self.initial_delay = initial_delay
        self.max_delay = max_delay
        self.jitter = jitter


class _StopAtDeadline(stop_base):
    """Stop when the next sleep would end at or past the deadline."""

    def __init__(self, deadline: float, clock: Callable[[], float]) -> None:
        self.deadline = deadline
        self.clock = clock

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.clock() + retry_state.upcoming_sleep >= self.deadline - 0.05


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, GatewayError) and exc.transient


def call_with_retries(
    call: Callable[[float], T],
    *,
    deadline: float,
    policy: RetryPolicy | None = None,
    context: str = "",
    clock: Callable[[], float] = time.time,
    on_attempt: Callable[[int], None] | None = None,
) -> T:
    """Run ``call(seconds_left)`` until it succeeds, fails permanently, or time or attempts run out.

    The last error is re-raised as it is. ``context`` (e.g. a verification id) goes into the
    retry log lines; it must not be a secret.
    """
    policy = policy or RetryPolicy()

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

    retrying = Retrying(
        retry=retry_if_exception(_is_transient),
        stop=stop_any(stop_after_attempt(policy.max_attempts), _StopAtDeadline(deadline, clock)),
        wait=wait_exponential_jitter(
            multiplier=policy.initial_delay, max=policy.max_delay, jitter=policy.jitter
        ),
        before_sleep=log_retry,
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            left = deadline - clock()
            if left <= 0:
                raise NetworkError(
                    "send deadline passed before the gateway answered", code="timeout"
                )
            if on_attempt is not None:
                on_attempt(attempt.retry_state.attempt_number)
            return call(left)
    raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover
