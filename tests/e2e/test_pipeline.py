"""End to end through real processes: producer API -> Redis broker -> ``celery -A worker worker``
subprocess -> sandbox gateway over HTTP -> Redis records -> polling -> verify_code."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import pytest
from helpers import (
    PASSWORD,
    FakeClock,
    Sandbox,
    WorkerProcess,
    make_settings,
    runtime_with_clock,
    wait_until,
)

from worker import get_status, request_code, resend, verify_code
from worker.runtime import Runtime
from worker.settings import Settings

PHONE = "+79001234567"


def wait_state(
    verification_id: str, states: tuple[str, ...] = ("sent", "failed"), timeout: float = 30
) -> str:
    return str(
        wait_until(
            lambda: (s := get_status(verification_id).state) in states and s, timeout=timeout
        )
    )


def test_happy_path_code_reaches_outbox_and_verifies_once(
    runtime: Runtime, sandbox: Sandbox, start_worker: Callable[..., WorkerProcess]
) -> None:
    start_worker(runtime.settings)
    req = request_code(PHONE, client_ip="203.0.113.7")
    assert req.created and req.state == "queued"
    assert wait_state(req.id) == "sent"

    code = sandbox.last_code(PHONE)
    assert len(code) == runtime.settings.codes.length
    sms = sandbox.outbox(PHONE)[-1]
    assert "TestShop" in sms["text"] and code in sms["text"]

    assert verify_code(req.id, "0" * 6 if code != "0" * 6 else "1" * 6).reason == "wrong"
    result = verify_code(req.id, code)
    assert result.ok and result.reason == "ok"
    again = verify_code(req.id, code)
    assert not again.ok and again.reason == "already_used"

    status = get_status(req.id)
    assert status.state == "verified" and status.id_sms == sms["id_sms"]
    events = [h["event"] for h in status.history]
    assert events[:3] == ["queued", "sending", "sent"] and "verified" in events


def test_resend_invalidates_the_old_code(
    runtime: Runtime, sandbox: Sandbox, start_worker: Callable[..., WorkerProcess]
) -> None:
    start_worker(runtime.settings)
    req = request_code(PHONE)
    wait_state(req.id)
    old = sandbox.last_code(PHONE)
    again = resend(req.id)
    assert again.id == req.id
    # The old code stops working the moment the resend is accepted, before any new SMS.
    assert verify_code(req.id, old).reason in ("not_sent_yet", "wrong")
    assert wait_state(req.id) == "sent"
    messages = sandbox.outbox(PHONE)
    assert len(messages) == 2
    new = messages[-1]["code"]
    if new != old:
        assert verify_code(req.id, old).reason == "wrong"
    assert verify_code(req.id, new).ok
    assert get_status(req.id).sends == 2


def test_wrong_codes_until_locked(
    runtime: Runtime, sandbox: Sandbox, start_worker: Callable[..., WorkerProcess]
) -> None:
    start_worker(runtime.settings)
    req = request_code(PHONE)
    wait_state(req.id)
    code = sandbox.last_code(PHONE)
    wrong = "9" * 6 if code != "9" * 6 else "8" * 6
    reasons = [verify_code(req.id, wrong) for _ in range(runtime.settings.codes.max_attempts)]
    assert [r.attempts_left for r in reasons] == [4, 3, 2, 1, 0]
    assert reasons[-1].reason == "locked"
    # Even the right code no longer helps: a new verification is needed.
    assert verify_code(req.id, code).reason == "locked"
    assert get_status(req.id).state == "locked"


def test_code_expires(
    redis_url: str, sandbox: Sandbox, start_worker: Callable[..., WorkerProcess]
) -> None:
    """The worker stores the code with the TTL of its settings; the producer that verifies reads
    a ``FakeClock`` started once the code is stored, so the TTL passes without sleeping."""
    settings = make_settings(redis_url, sandbox, OTP_TTL_SECONDS=120)
    rt = Runtime.from_settings(settings)
    start_worker(settings)
    req = request_code(PHONE, runtime=rt)
    wait_until(lambda: get_status(req.id, runtime=rt).state == "sent")
    code = sandbox.last_code(PHONE)
    clock = FakeClock()  # at or after the worker stored the code
    later = runtime_with_clock(settings, clock)
    clock.advance(110)  # inside the TTL, even if storing was seconds before the clock started
    wrong = "9" * 6 if code != "9" * 6 else "8" * 6
    assert verify_code(req.id, wrong, runtime=later).reason == "wrong"
    clock.advance(10)  # the TTL's end
    assert verify_code(req.id, code, runtime=later).reason == "expired"
    assert get_status(req.id, runtime=rt).state == "expired"
    later.close()
    rt.close()


def test_connection_error_twice_then_success(
    runtime: Runtime, sandbox: Sandbox, start_worker: Callable[..., WorkerProcess]
) -> None:
    start_worker(runtime.settings)
    phone = "+79990000102"
    req = request_code(phone)
    assert wait_state(req.id) == "sent"
    assert sandbox.stats()["password_generation"] == 3
    # Only the code of the call that went out is in the outbox, and only it verifies.
    assert verify_code(req.id, sandbox.last_code(phone)).ok


def test_bad_credentials_fail_after_exactly_one_gateway_call(
    redis_url: str, sandbox: Sandbox, start_worker: Callable[..., WorkerProcess]
) -> None:
    settings = make_settings(redis_url, sandbox, TARGETSMS_PASSWORD=PASSWORD + "-wrong")
    rt = Runtime.from_settings(settings)
    start_worker(settings)
    req = request_code(PHONE, runtime=rt)
    wait_until(lambda: get_status(req.id, runtime=rt).state == "failed")
    status = get_status(req.id, runtime=rt)
    assert status.error is not None
    assert status.error["code"] == "auth_failed"
    assert "логин или пароль" in status.error["message"]
    assert sandbox.stats()["password_generation"] == 1
    rt.close()


def test_hung_gateway_times_out_and_retries_within_deadline(
    redis_url: str, sandbox: Sandbox, start_worker: Callable[..., WorkerProcess]
) -> None:
    settings = make_settings(redis_url, sandbox, TARGETSMS_READ_TIMEOUT=1.0)
    rt = Runtime.from_settings(settings)
    worker = start_worker(settings)
    phone = "+79990000301"  # the first request hangs, the next succeeds
    started = time.monotonic()
    req = request_code(phone, runtime=rt)
    wait_until(lambda: get_status(req.id, runtime=rt).state == "sent")
    assert time.monotonic() - started < settings.codes.send_deadline_seconds
    assert sandbox.stats()["password_generation"] == 2
    assert "gateway attempt 1 failed (timeout)" in worker.output()
    rt.close()


def test_always_hanging_gateway_fails_at_the_deadline(
    redis_url: str, sandbox: Sandbox, start_worker: Callable[..., WorkerProcess]
) -> None:
    settings = make_settings(
        redis_url, sandbox, TARGETSMS_READ_TIMEOUT=0.5, OTP_SEND_DEADLINE_SECONDS=3
    )
    rt = Runtime.from_settings(settings)
    start_worker(settings)
    started = time.monotonic()
    req = request_code("+79990000300", runtime=rt)
    wait_until(lambda: get_status(req.id, runtime=rt).state == "failed", timeout=15)
    elapsed = time.monotonic() - started
    assert elapsed < settings.codes.send_deadline_seconds + 2
    error = get_status(req.id, runtime=rt).error
    assert error is not None and error["code"] == "timeout"
    rt.close()


@pytest.mark.long_wait(16)
def test_worker_killed_mid_send_still_completes(
    redis_url: str, sandbox: Sandbox, start_worker: Callable[..., WorkerProcess]
) -> None:
    # First request hangs for the whole read timeout; the worker is killed during it.
    settings = make_settings(
        redis_url, sandbox, TARGETSMS_READ_TIMEOUT=4.0, OTP_SEND_DEADLINE_SECONDS=50
    )
    rt = Runtime.from_settings(settings)
    first = start_worker(settings)
    req = request_code("+79990000301", runtime=rt)
    wait_until(lambda: get_status(req.id, runtime=rt).state == "sending")
    wait_until(lambda: sandbox.stats()["password_generation"] == 1)
    first.kill()
    second = start_worker(settings)
    # Redis hands the unacked message back after the visibility timeout; the dead worker's
    # send lock expires; the second worker sends.
    wait_until(lambda: get_status(req.id, runtime=rt).state == "sent", timeout=45)
    assert verify_code(req.id, sandbox.last_code("+79990000301"), runtime=rt).ok
    assert "sent " + req.id in second.output()
    rt.close()


def test_delivery_is_polled_in_batches(
    runtime: Runtime, sandbox: Sandbox, start_worker: Callable[..., WorkerProcess]
) -> None:
    start_worker(runtime.settings, concurrency=16)
    phones = [f"+7900{n:07d}" for n in range(1000, 1030)]
    ids = [request_code(p).id for p in phones]
    wait_until(lambda: all(get_status(i).delivery_status == "deliver" for i in ids), timeout=30)
    stats = sandbox.stats()
    assert stats["password_generation"] == len(phones)
    assert stats["state"] < len(phones), stats
    assert stats["state_ids"] >= len(phones)
    events = [h["event"] for h in get_status(ids[0]).history]
    assert events[-1] == "status"


def test_final_failure_statuses_and_unknown_status(
    runtime: Runtime, sandbox: Sandbox, start_worker: Callable[..., WorkerProcess]
) -> None:
    start_worker(runtime.settings)
    invalid = request_code("+79990000001")  # initial not_valid_phone
    undelivered = request_code("+79990000005")  # send, then not_deliver
    unknown = request_code("+79990000008")  # send, then a status the guide does not name
    wait_until(lambda: get_status(invalid.id).state == "failed")
    error = get_status(invalid.id).error
    assert error is not None and error["code"] == "phone_invalid"
    wait_until(lambda: get_status(undelivered.id).delivery_status == "not_deliver")
    wait_until(lambda: get_status(unknown.id).delivery_status == "other")
    # Unknown statuses are recorded as "other" (the raw text in the history only) and polled
    # again (treated as pending), not dropped.
    status = get_status(unknown.id)
    assert status.state == "sent"
    assert any(entry.get("raw") == "read" for entry in status.history)


def test_permanent_errors_map_to_stable_codes(
    runtime: Runtime, sandbox: Sandbox, start_worker: Callable[..., WorkerProcess]
) -> None:
    start_worker(runtime.settings)
    expected = {
        "+79990000201": "account_blocked",
        "+79990000202": "no_funds",
        "+79990000205": "phone_stop_listed",
    }
    ids = {phone: request_code(phone).id for phone in expected}
    for phone, code in expected.items():
        wait_until(lambda i=ids[phone]: get_status(i).state == "failed")
        error = get_status(ids[phone]).error
        assert error is not None and error["code"] == code
    assert sandbox.stats()["password_generation"] == len(expected)


def test_rabbitmq_broker_end_to_end(
    redis_url: str, amqp_url: str, sandbox: Sandbox, start_worker: Callable[..., WorkerProcess]
) -> None:
    import os
    import subprocess
    import sys

    settings: Settings = make_settings(redis_url, sandbox, CELERY_BROKER_URL=amqp_url)
    start_worker(settings)
    env = {**os.environ, **settings.to_env()}
    out = subprocess.run(
        [sys.executable, "-m", "worker.ops.cli", "send", PHONE, "--wait", "30"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    import json

    record = json.loads(out.stdout)
    assert record["state"] == "sent"
    code = sandbox.last_code(PHONE)
    verify = subprocess.run(
        [sys.executable, "-m", "worker.ops.cli", "verify", record["id"], code],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert verify.returncode == 0 and json.loads(verify.stdout)["ok"] is True
    assert dataclasses.asdict(settings)["broker_url"].startswith("amqp://")
