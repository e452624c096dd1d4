"""The in-memory SMS provider plays every answer the send step must handle, on a moved clock."""

from __future__ import annotations

import pytest
from helpers import FakeClock

from worker.errors import (
    DeliveryFailed,
    DuplicateRequest,
    GatewayRejected,
    InvalidRequest,
    NetworkError,
    ProtocolError,
    StatusConnectionError,
)
from worker.providers.memory import AnswerLost, InMemoryProvider
from worker.providers.retry import MaybeSent, RetryPolicy, call_with_retries

PHONE = "+79001234567"
TEXT = "TestShop: код {код}"


def send(provider: InMemoryProvider, phone: str = PHONE, text: str = TEXT) -> str:
    return provider.send_code(phone, text=text, code_length=6).code


def test_a_send_reaches_the_outbox_with_its_own_code() -> None:
    provider = InMemoryProvider()
    result = provider.send_code(PHONE, text=TEXT, code_length=8)
    assert len(result.code) == 8 and result.code.isdigit() and result.status == "send"
    (sms,) = provider.outbox
    assert sms.text == TEXT.replace("{код}", result.code) and sms.id_sms == result.id_sms
    assert provider.last_code(PHONE) == result.code
    assert PHONE not in repr(provider) and result.code not in repr(provider)


def test_a_text_without_the_placeholder_is_our_own_bad_input() -> None:
    provider = InMemoryProvider()
    with pytest.raises(InvalidRequest):
        send(provider, text="no placeholder")
    assert not provider.outbox
    with pytest.raises(LookupError):
        provider.last_code(PHONE)


@pytest.mark.parametrize(
    "error",
    [
        NetworkError("connection refused"),
        ProtocolError("HTTP 502", code="http_error"),
        StatusConnectionError("connection_error"),
        GatewayRejected("Неверный логин или пароль", code="auth_failed"),
        DeliveryFailed(
            "not_valid_phone", code="phone_invalid", id_sms="9", status="not_valid_phone"
        ),
    ],
)
def test_a_queued_error_is_raised_once_with_nothing_sent(error: Exception) -> None:
    provider = InMemoryProvider()
    provider.failures.extend([error])
    with pytest.raises(type(error)) as info:
        send(provider)
    assert info.value is error and not provider.outbox
    code = send(provider)  # the queue is spent: the next send goes out
    assert provider.last_code(PHONE) == code and provider.calls == 2


def test_a_lost_answer_sends_the_sms_and_raises_a_maybe_sent_error() -> None:
    provider = InMemoryProvider()
    provider.failures.append(AnswerLost())
    with pytest.raises(ProtocolError) as info:
        send(provider)
    assert info.value.maybe_sent and info.value.transient
    (lost,) = provider.outbox  # the phone got a code its sender never learned
    assert provider.last_code(PHONE) == lost.code
    # Any maybe-sent error may be the one that comes back (no_funds_queued: held until top-up).
    held = GatewayRejected("пополните счет", code="no_funds_queued", maybe_sent=True)
    provider.failures.append(AnswerLost(held))
    with pytest.raises(GatewayRejected) as rejected:
        send(provider, phone="+79001234568")
    assert rejected.value is held and len(provider.outbox) == 2


def test_an_answer_lost_after_the_sms_went_out_must_be_maybe_sent() -> None:
    with pytest.raises(ValueError, match="maybe_sent"):
        AnswerLost(NetworkError("connection refused"))


def test_the_duplicate_rule_refuses_an_identical_send_within_its_window() -> None:
    clock = FakeClock()
    provider = InMemoryProvider(duplicate_window_seconds=60, clock=clock)
    send(provider)
    clock.advance(59.9)
    with pytest.raises(DuplicateRequest) as info:
        send(provider)
    assert info.value.retry_after == 60 and info.value.code == "duplicate_request"
    assert PHONE not in str(info.value) and PHONE[1:] not in repr(info.value)
    # Not identical: another phone or another text goes out.
    send(provider, phone="+79001234568")
    send(provider, text="Other: {код}")
    clock.advance(0.1)  # a refusal opened no window of its own: the first one is over
    send(provider)
    assert len(provider.outbox) == 4 and provider.calls == 5


def test_a_lost_answer_opens_the_window_and_a_refusal_consumes_no_queued_failure() -> None:
    clock = FakeClock()
    provider = InMemoryProvider(duplicate_window_seconds=60, clock=clock)
    provider.failures.extend([AnswerLost(), NetworkError("reset")])
    with pytest.raises(ProtocolError):
        send(provider)
    with pytest.raises(DuplicateRequest):
        send(provider)  # the lost answer's SMS went out: its window is open
    clock.advance(60)
    with pytest.raises(NetworkError):
        send(provider)  # still queued behind the refusal
    send(provider)
    assert len(provider.outbox) == 2


def test_the_rule_is_off_unless_a_window_is_given() -> None:
    provider = InMemoryProvider()
    first, second = send(provider), send(provider)
    assert [m.code for m in provider.outbox] == [first, second]


def test_a_retry_loop_meets_the_refusal_after_its_lost_answer() -> None:
    """What the send step sees: a lost answer is retried, and the retry is refused as the
    duplicate of the SMS that did go out; the budget counts the lost one."""
    clock = FakeClock()
    provider = InMemoryProvider(duplicate_window_seconds=60, clock=clock)
    provider.failures.append(AnswerLost())
    budget = MaybeSent()
    with pytest.raises(DuplicateRequest):
        call_with_retries(
            lambda left: provider.send_code(PHONE, text=TEXT, code_length=6, time_left=left),
            deadline=clock() + 90,
            policy=RetryPolicy(initial_delay=0.0, max_delay=0.0, jitter=0.0),
            clock=clock,
            maybe_sent=budget,
        )
    assert provider.calls == 2 and budget.spent == 1 and budget.last_at == clock()


def test_statuses_balance_and_push_url() -> None:
    provider = InMemoryProvider()
    provider.statuses["1"] = "deliver"
    states = provider.get_state(["1", "2"])
    assert [(s.id_sms, s.status) for s in states] == [("1", "deliver"), ("2", "send")]
    assert provider.balance().money == provider.balance_money
    provider.set_push_url("https://example.test/push")
    assert provider.push_url == "https://example.test/push"
    provider.set_push_url(None)
    assert provider.push_url is None
