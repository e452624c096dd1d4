"""One send against gateways that lie, trickle and refuse duplicates: ``send_verification``
in-process, real Redis, the sandbox over HTTP with the duplicate rule on.

The send, its Store and the sandbox share a ``FakeClock``: the gateway's window (TargetSMS's
own minute) and the retry backoff pass at once, and a test reads how long the send waited on
the clock. Only the trickling gateway runs in real time: the socket is the point there."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from helpers import FakeClock, GatewayAt, Sandbox, make_settings, raw_redis, runtime_with_clock
from tcp_proxy import CuttableProxy, cuttable

from worker import get_status, request_code, resend, verify_code
from worker.core.phone import Phone
from worker.errors import DuplicateRequest
from worker.providers.memory import AnswerLost, InMemoryProvider
from worker.providers.models import SendResult
from worker.runtime import Runtime
from worker.steps.sending import SendOutcome, send_verification
from worker.store import ClaimOutcome

WINDOW_S = 60  # the sandbox's and the worker's duplicate window alike: TargetSMS's own


def setup(
    redis_url: str,
    sandbox_factory: Callable[..., Sandbox],
    clock: FakeClock,
    window: int = WINDOW_S,
    **overrides: Any,
) -> tuple[Runtime, Sandbox]:
    sandbox = sandbox_factory(clock=clock, duplicate_window_ms=window * 1000)
    settings = make_settings(
        redis_url,
        sandbox,
        TARGETSMS_CONNECT_TIMEOUT=0.5,
        TARGETSMS_READ_TIMEOUT=0.5,
        TARGETSMS_DUPLICATE_WINDOW_SECONDS=window,
        **{"OTP_SEND_DEADLINE_SECONDS": 90, **overrides},
    )
    return runtime_with_clock(settings, clock), sandbox


def send(rt: Runtime, clock: FakeClock, verification_id: str) -> SendOutcome:
    """``send_verification`` on the test's clock: its waits advance it instead of sleeping."""
    return send_verification(rt, verification_id, clock=clock, sleep=clock.sleep)


def test_a_lost_answer_then_a_duplicate_waits_the_window_out_and_the_last_code_verifies(
    redis_url: str, sandbox_factory: Callable[..., Sandbox]
) -> None:
    clock = FakeClock()
    rt, sandbox = setup(redis_url, sandbox_factory, clock)
    phone = "+79990000801"  # sent, but the first answer is truncated
    req = request_code(phone, runtime=rt)
    started = clock()
    assert send(rt, clock, req.id).result == "sent"
    assert clock() - started >= WINDOW_S  # the window was waited out, not hammered
    assert max(clock.slept) <= rt.settings.lock_ttl_seconds / 3  # in steps that keep the lock
    # Three calls: the lost answer, the duplicate refusal, the resend after the window.
    assert sandbox.stats()["password_generation"] == 3
    first, last = sandbox.outbox(phone)
    assert first["code"] != last["code"]  # the sandbox is seeded
    assert verify_code(req.id, str(first["code"]), runtime=rt).reason == "wrong"
    assert verify_code(req.id, str(last["code"]), runtime=rt).ok
    rt.close()


def test_two_ambiguous_answers_end_the_send(
    redis_url: str, sandbox_factory: Callable[..., Sandbox]
) -> None:
    clock = FakeClock()
    rt, sandbox = setup(redis_url, sandbox_factory, clock)
    phone = "+79990000900"  # sent, a 1-digit code in every answer
    req = request_code(phone, runtime=rt)
    assert send(rt, clock, req.id).result == "failed"
    status = get_status(req.id, runtime=rt)
    assert status.state == "failed" and status.error is not None
    assert status.error["code"] == "protocol_error"
    assert len(sandbox.outbox(phone)) == 2  # the most an ambiguous answer may cost
    assert all(
        verify_code(req.id, str(m["code"]), runtime=rt).ok is False for m in sandbox.outbox(phone)
    )
    rt.close()


def test_no_room_for_the_window_ends_duplicate_request_and_resend_works(
    redis_url: str, sandbox_factory: Callable[..., Sandbox]
) -> None:
    clock = FakeClock()
    rt, sandbox = setup(redis_url, sandbox_factory, clock, OTP_SEND_DEADLINE_SECONDS=30)
    phone = "+79990000801"
    req = request_code(phone, runtime=rt)
    assert send(rt, clock, req.id).result == "failed"
    status = get_status(req.id, runtime=rt)
    assert status.error is not None and status.error["code"] == "duplicate_request"
    assert sandbox.stats()["password_generation"] == 2  # no third call into the window
    assert sum(clock.slept) < WINDOW_S  # the backoff, not the window: the deadline had no room
    clock.advance(WINDOW_S)  # the gateway's own rule: nothing to wait for but the clock
    assert resend(req.id, runtime=rt).created
    assert send(rt, clock, req.id).result == "sent"
    assert verify_code(req.id, sandbox.last_code(phone), runtime=rt).ok
    rt.close()


def test_a_trickling_gateway_ends_in_one_clean_failure(
    redis_url: str, sandbox_factory: Callable[..., Sandbox]
) -> None:
    sandbox = sandbox_factory(duplicate_window_ms=WINDOW_S * 1000, trickle_ms=100)
    settings = make_settings(
        redis_url, sandbox,
        TARGETSMS_CONNECT_TIMEOUT=0.5, TARGETSMS_READ_TIMEOUT=0.5,
        TARGETSMS_DUPLICATE_WINDOW_SECONDS=WINDOW_S, OTP_SEND_DEADLINE_SECONDS=4,
    )  # fmt: skip
    rt = Runtime.from_settings(settings)  # real time: the transport's deadline is the point
    phone = "+79990000700"  # sent, every answer trickles a byte per 100 ms
    req = request_code(phone, runtime=rt)
    started = time.monotonic()
    assert send_verification(rt, req.id).result == "failed"
    # Bounded by the deadline, not by the trickle (a full answer takes far longer); the slack
    # is for a loaded machine.
    assert time.monotonic() - started < 4 + 3
    status = get_status(req.id, runtime=rt)
    assert status.state == "failed" and status.error is not None
    assert status.error["code"] in ("timeout", "duplicate_request")
    assert len(sandbox.outbox(phone)) == 1  # the retry met the duplicate rule
    rt.close()


def test_a_send_that_loses_its_lock_while_waiting_stops_without_storing(
    redis_url: str, sandbox_factory: Callable[..., Sandbox]
) -> None:
    clock = FakeClock()
    rt, sandbox = setup(redis_url, sandbox_factory, clock)
    req = request_code("+79990000801", runtime=rt)

    def taken_over_while_waiting(seconds: float) -> None:
        # Once the duplicate refusal has come back, the send waits out the window: meanwhile
        # another worker claims the send (this one's lock expired, say, in a long GC pause).
        if sandbox.stats()["password_generation"] == 2:
            raw_redis(rt).set(rt.store.keys.lock(req.id), "another-worker", px=60_000)
        clock.sleep(seconds)

    outcome = send_verification(rt, req.id, clock=clock, sleep=taken_over_while_waiting)
    assert outcome.result == "skipped"
    assert len(clock.slept) == 2  # the backoff, then one step of the window: the lock was gone
    assert sandbox.stats()["password_generation"] == 2  # no call once the lock was gone
    record, _ = rt.store.load(req.id)
    assert record["state"] == "sending" and "code_hmac" not in record
    rt.close()


def test_a_send_resumed_after_its_worker_died_waits_from_that_call_not_from_its_claim(
    redis_url: str, sandbox_factory: Callable[..., Sandbox]
) -> None:
    """The issue's crash run: the dead worker's call was accepted, the send resumes later
    (visibility timeout plus lock expiry), meets the duplicate refusal, and must wait until
    the window after that call, which the deadline still holds, not after its own claim."""
    clock = FakeClock()
    rt, sandbox = setup(redis_url, sandbox_factory, clock)
    phone = "+79001234567"
    req = request_code(phone, runtime=rt)
    # Worker A claims and calls; the gateway accepts; A is SIGKILLed before storing anything.
    s = rt.settings
    assert rt.store.claim_send(req.id, "worker-a", 60_000).outcome is ClaimOutcome.CLAIMED
    rt.provider.send_code(phone, text=s.codes.message_text, code_length=s.codes.length, time_left=5)
    raw_redis(rt).delete(rt.store.keys.lock(req.id))  # A's lock expires
    # The broker hands the message back this much later, within the gateway's window: counted
    # from here, the window (60 s + 1 s) and one attempt (2 s) would end past the deadline
    # (90 s after the request); counted from A's call they end 27 s before it.
    clock.advance(50)
    started = clock()
    assert send(rt, clock, req.id).result == "sent"
    assert clock() - started == pytest.approx(WINDOW_S + 1 - 50, abs=0.01)  # from A's call
    assert sandbox.stats()["password_generation"] == 3  # A's call, the refusal, the new one
    lost, last = sandbox.outbox(phone)
    assert verify_code(req.id, str(lost["code"]), runtime=rt).reason == "wrong"
    assert verify_code(req.id, str(last["code"]), runtime=rt).ok
    rt.close()


def test_a_resumed_send_refused_again_after_the_window_asks_again_shortly(
    redis_url: str, sandbox_factory: Callable[..., Sandbox]
) -> None:
    """The record knows when the dead worker's call started, not when the gateway accepted it
    (a slow connect, a slow gateway): refused once more after that window, the send asks again
    a little later instead of failing."""
    clock = FakeClock()
    rt, sandbox = setup(redis_url, sandbox_factory, clock)
    phone = "+79001234567"
    req = request_code(phone, runtime=rt)
    s = rt.settings
    assert rt.store.claim_send(req.id, "worker-a", 60_000).outcome is ClaimOutcome.CLAIMED
    clock.advance(2)  # A's request reaches the gateway 2 s after A noted its start
    rt.provider.send_code(phone, text=s.codes.message_text, code_length=s.codes.length, time_left=5)
    raw_redis(rt).delete(rt.store.keys.lock(req.id))
    clock.advance(1)
    # Refused at once, then at A's start + 61 s (the gateway's window runs 1 s longer), then,
    # asked again 2 s later, sent.
    started = clock()
    assert send(rt, clock, req.id).result == "sent"
    assert clock() - started == pytest.approx(WINDOW_S + 1 - 3 + 2, abs=0.01)
    assert sandbox.stats()["password_generation"] == 4
    assert verify_code(req.id, sandbox.last_code(phone), runtime=rt).ok
    rt.close()


def test_no_funds_with_the_sms_queued_ends_the_send_at_once_and_is_never_sent_again(
    redis_url: str, sandbox_factory: Callable[..., Sandbox]
) -> None:
    """The platform keeps the SMS and sends it after a top-up, with a code we never learn: a
    second request could only add another one. The send ends with a code saying so."""
    clock = FakeClock()
    rt, sandbox = setup(redis_url, sandbox_factory, clock)
    req = request_code("+79990000212", runtime=rt)
    assert send(rt, clock, req.id) == SendOutcome("failed", error="no_funds_queued")
    status = get_status(req.id, runtime=rt)
    assert status.state == "failed" and status.error is not None
    assert status.error["code"] == "no_funds_queued"
    assert "пополните" in status.error["message"]  # the gateway's own text, for the operator
    assert sandbox.stats()["password_generation"] == 1
    assert rt.store.totals()["sms_failed:no_funds_queued"] == "1"  # what the alert counts
    rt.close()


def test_the_wait_is_the_providers_own_window_not_a_targetsms_setting(redis_url: str) -> None:
    """Another provider's duplicate refusal carries its own window: the send waits its
    ``retry_after`` from the lost request, whatever TARGETSMS_DUPLICATE_WINDOW_SECONDS says
    (read there, the 600 s would leave no room in the deadline and the send would fail)."""
    clock = FakeClock()
    provider = InMemoryProvider(duplicate_window_seconds=4, clock=clock)
    provider.failures.append(AnswerLost())  # the SMS goes out, its answer is lost
    settings = make_settings(
        redis_url, GatewayAt(),
        TARGETSMS_DUPLICATE_WINDOW_SECONDS=600, OTP_SEND_DEADLINE_SECONDS=30,
    )  # fmt: skip
    rt = runtime_with_clock(settings, clock, provider)
    phone = "+79001234567"
    req = request_code(phone, runtime=rt)
    started = clock()
    assert send(rt, clock, req.id).result == "sent"
    assert provider.calls == 3  # the lost answer, the refusal, the resend after the window
    assert 4 < clock() - started < 600
    lost, last = provider.outbox
    assert verify_code(req.id, lost.code, runtime=rt).reason == "wrong"
    assert verify_code(req.id, last.code, runtime=rt).ok
    rt.close()


def test_a_fresh_send_refused_as_a_duplicate_fails_at_once(
    redis_url: str, sms: InMemoryProvider
) -> None:
    """Nothing of this send went out: the identical request was another verification's, so
    there is no code of ours to replace and nothing to wait for."""
    clock = FakeClock()
    sms.failures.append(DuplicateRequest("identical request", retry_after=60))
    rt = runtime_with_clock(make_settings(redis_url), clock, sms)
    req = request_code("+79001234567", runtime=rt)
    assert send(rt, clock, req.id) == SendOutcome("failed", error="duplicate_request")
    assert sms.calls == 1 and not sms.outbox  # no wait, no second request
    assert not clock.slept
    rt.close()


class _RedisBlinksAfterTheSms(InMemoryProvider):
    """A gateway that accepts the SMS, after which Redis is away for a moment (a failover)
    before the worker can store the outcome."""

    def __init__(self, proxy: CuttableProxy, away_s: float) -> None:
        super().__init__()
        self.proxy, self.away_s = proxy, away_s

    def send_code(
        self, phone: str | Phone, *, text: str, code_length: int, time_left: float | None = None
    ) -> SendResult:
        result = super().send_code(phone, text=text, code_length=code_length, time_left=time_left)
        self.proxy.cut()
        threading.Timer(self.away_s, self.proxy.restore).start()
        return result


@pytest.mark.usefixtures("drop_queued_messages")
def test_redis_away_after_the_gateway_accepted_is_waited_out_not_a_second_sms(
    redis_url: str,
) -> None:
    parts = urlsplit(redis_url)
    with cuttable((parts.hostname or "127.0.0.1", parts.port or 6379)) as proxy:
        via_proxy = f"redis://127.0.0.1:{proxy.port}{parts.path}"
        sms = _RedisBlinksAfterTheSms(proxy, away_s=1.5)
        settings = make_settings(via_proxy, CELERY_BROKER_URL=redis_url)
        rt = Runtime.from_settings(settings, provider=sms)
        phone = "+79990000871"
        req = request_code(phone, runtime=rt)
        assert send_verification(rt, req.id).result == "sent"  # not StoreUnavailable
        assert len(sms.outbox) == 1  # so the message is acked, never redelivered and resent
        assert verify_code(req.id, sms.last_code(phone), runtime=rt).ok
        rt.close()
