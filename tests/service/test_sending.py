"""One send against gateways that lie, trickle and refuse duplicates: ``send_verification``
in-process, real Redis, the sandbox over HTTP with the duplicate rule on (a short window)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from helpers import Sandbox, make_settings, raw_redis, wait_until

from worker import get_status, request_code, resend, verify_code
from worker.runtime import Runtime
from worker.sending import SendOutcome, send_verification

WINDOW_S = 2  # the sandbox's and the worker's duplicate window alike


def setup(
    redis_url: str, sandbox_factory: Callable[..., Sandbox], **overrides: Any
) -> tuple[Runtime, Sandbox]:
    sandbox = sandbox_factory(duplicate_window_ms=WINDOW_S * 1000, trickle_ms=100)
    settings = make_settings(
        redis_url,
        sandbox,
        TARGETSMS_CONNECT_TIMEOUT=0.5,
        TARGETSMS_READ_TIMEOUT=0.5,
        TARGETSMS_DUPLICATE_WINDOW_SECONDS=WINDOW_S,
        **overrides,
    )
    return Runtime.from_settings(settings), sandbox


def test_a_lost_answer_then_a_duplicate_waits_the_window_out_and_the_last_code_verifies(
    redis_url: str, sandbox_factory: Callable[..., Sandbox]
) -> None:
    rt, sandbox = setup(redis_url, sandbox_factory)
    phone = "+79990000801"  # sent, but the first answer is truncated
    req = request_code(phone, runtime=rt)
    started = time.monotonic()
    assert send_verification(rt, req.id).result == "sent"
    assert time.monotonic() - started >= WINDOW_S  # the window was waited out, not hammered
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
    rt, sandbox = setup(redis_url, sandbox_factory)
    phone = "+79990000900"  # sent, a 1-digit code in every answer
    req = request_code(phone, runtime=rt)
    assert send_verification(rt, req.id).result == "failed"
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
    rt, sandbox = setup(redis_url, sandbox_factory, OTP_SEND_DEADLINE_SECONDS=2)
    phone = "+79990000801"
    req = request_code(phone, runtime=rt)
    assert send_verification(rt, req.id).result == "failed"
    status = get_status(req.id, runtime=rt)
    assert status.error is not None and status.error["code"] == "duplicate_request"
    assert sandbox.stats()["password_generation"] == 2  # no third call into the window
    time.sleep(WINDOW_S)  # the gateway's own rule: nothing to wait for but the clock
    assert resend(req.id, runtime=rt).created
    assert send_verification(rt, req.id).result == "sent"
    assert verify_code(req.id, sandbox.last_code(phone), runtime=rt).ok
    rt.close()


def test_a_trickling_gateway_ends_in_one_clean_failure(
    redis_url: str, sandbox_factory: Callable[..., Sandbox]
) -> None:
    rt, sandbox = setup(redis_url, sandbox_factory, OTP_SEND_DEADLINE_SECONDS=4)
    phone = "+79990000700"  # sent, every answer trickles a byte per 100 ms
    req = request_code(phone, runtime=rt)
    started = time.monotonic()
    assert send_verification(rt, req.id).result == "failed"
    assert time.monotonic() - started < 4.5
    status = get_status(req.id, runtime=rt)
    assert status.state == "failed" and status.error is not None
    assert status.error["code"] in ("timeout", "duplicate_request")
    assert len(sandbox.outbox(phone)) == 1  # the retry met the duplicate rule
    rt.close()


def test_a_send_that_loses_its_lock_while_waiting_stops_without_storing(
    redis_url: str, sandbox_factory: Callable[..., Sandbox]
) -> None:
    rt, sandbox = setup(redis_url, sandbox_factory)
    req = request_code("+79990000801", runtime=rt)
    outcome: list[SendOutcome] = []
    thread = threading.Thread(target=lambda: outcome.append(send_verification(rt, req.id)))
    thread.start()
    # The duplicate refusal has come back: the send is now waiting out the window.
    wait_until(lambda: sandbox.stats()["password_generation"] == 2, timeout=10)
    raw_redis(rt).set(rt.store.keys.lock(req.id), "another-worker", px=60_000)
    thread.join(15)
    assert outcome[0].result == "skipped"
    assert sandbox.stats()["password_generation"] == 2  # no call once the lock was gone
    record, _ = rt.store.load(req.id)
    assert record["state"] == "sending" and "code_hmac" not in record
    rt.close()
