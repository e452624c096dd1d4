"""The retry loop (worker.providers.retry) around the in-memory provider: which errors are tried
again, how often, and that the deadline wins over the attempt count. No socket, no sleep worth
the name: the policy's pauses are a millisecond and the deadline runs on a ``FakeClock``."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from helpers import FakeClock

from worker.errors import (
    DeliveryFailed,
    GatewayError,
    GatewayRejected,
    NetworkError,
    ProtocolError,
    StatusConnectionError,
)
from worker.providers.memory import InMemoryProvider
from worker.providers.models import SendResult
from worker.providers.targetsms import RetryPolicy, call_with_retries

TEXT = "TestShop: код {код}"
PHONE = "+79001234567"
QUICK = RetryPolicy(max_attempts=8, initial_delay=0.001, max_delay=0.001, jitter=0)


def retrying(
    provider: InMemoryProvider,
    *,
    deadline_s: float = 10,
    attempts: int = 8,
    clock: Callable[[], float] | None = None,
) -> SendResult:
    now = clock or FakeClock()
    return call_with_retries(
        lambda left: provider.send_code(PHONE, text=TEXT, code_length=6, time_left=left),
        deadline=now() + deadline_s,
        policy=RetryPolicy(max_attempts=attempts, initial_delay=0.001, max_delay=0.001, jitter=0),
        clock=now,
    )


def cleared() -> StatusConnectionError:
    return StatusConnectionError("connection refused", code="connection_error")


def unreadable() -> ProtocolError:
    return ProtocolError("truncated answer", maybe_sent=True)


@pytest.mark.parametrize(
    ("failures", "calls"),
    [
        ([cleared(), cleared(), cleared()], 4),  # nothing went out: retried as often as allowed
        ([ProtocolError("a 5xx page")] * 3, 4),
        ([unreadable()], 2),  # may have been billed: one more try
    ],
    ids=["connection_error", "server_error", "maybe_sent"],
)
def test_transient_errors_are_retried_until_success(
    failures: list[GatewayError], calls: int
) -> None:
    provider = InMemoryProvider()
    provider.failures.extend(failures)
    assert retrying(provider).code == provider.last_code(PHONE)
    assert provider.calls == calls and len(provider.outbox) == 1


def test_retries_are_bounded_by_attempts() -> None:
    provider = InMemoryProvider()
    provider.failures.extend(cleared() for _ in range(10))
    with pytest.raises(StatusConnectionError):
        retrying(provider, attempts=3)
    assert provider.calls == 3


def test_two_answers_that_may_have_cost_an_sms_end_the_retries() -> None:
    provider = InMemoryProvider()
    provider.failures.extend([unreadable(), NetworkError("cut", code="timeout", maybe_sent=True)])
    with pytest.raises(NetworkError) as info:
        retrying(provider)
    assert info.value.maybe_sent and provider.calls == 2  # the most an ambiguous answer costs


@pytest.mark.parametrize(
    "error",
    [
        GatewayRejected("Заблокирован", code="account_blocked"),
        DeliveryFailed("not valid", code="phone_invalid", id_sms="1", status="not_valid_phone"),
    ],
)
def test_no_retry_on_permanent_errors(error: GatewayError) -> None:
    provider = InMemoryProvider()
    provider.failures.append(error)
    with pytest.raises(type(error)):
        retrying(provider)
    assert provider.calls == 1


def test_the_deadline_wins_over_the_attempts_and_each_call_is_told_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    deadline = clock() + 2.0
    told: list[float] = []

    def hangs(left: float) -> SendResult:  # each attempt times out after 0.6 s or the rest
        told.append(left)
        clock.advance(min(0.6, left))
        raise NetworkError("no answer", code="timeout")

    with caplog.at_level(logging.WARNING), pytest.raises(NetworkError) as info:
        call_with_retries(hangs, deadline=deadline, policy=QUICK, context="v1", clock=clock)
    assert info.value.code == "timeout"
    # The last one was capped to what was left.
    assert told == pytest.approx([2.0, 1.4, 0.8, 0.2], abs=1e-6)
    assert clock() <= deadline
    assert "gateway attempt 1 failed (timeout) for v1" in caplog.text
    assert PHONE not in caplog.text


def test_no_attempt_starts_past_the_deadline() -> None:
    provider = InMemoryProvider()
    with pytest.raises(NetworkError, match="deadline"):
        retrying(provider, deadline_s=0)
    assert provider.calls == 0
