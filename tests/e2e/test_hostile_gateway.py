"""Worker processes against a gateway that trickles its answers, with the duplicate rule on.

The send lock must hold across a worker's death and the broker's redelivery: no second SMS
while a send is alive, no code stored beside a newer one, no record left in ``sending``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from helpers import Sandbox, WorkerProcess, make_settings, wait_until

from worker import get_status, request_code, verify_code
from worker.runtime import Runtime


@pytest.mark.long_wait(32)
def test_a_worker_killed_mid_call_is_resumed_and_the_last_code_verifies(
    redis_url: str,
    sandbox_factory: Callable[..., Sandbox],
    start_worker: Callable[..., WorkerProcess],
) -> None:
    # The send resumes 15-25 s after the kill (visibility timeout, then the dead worker's lock
    # expires), inside the window: waiting from there (31 s more) would end past the deadline;
    # waiting from the dead worker's call, which the record noted before it, leaves 10 s.
    window = 30
    sandbox = sandbox_factory(duplicate_window_ms=window * 1000, trickle_ms=300)
    settings = make_settings(
        redis_url,
        sandbox,
        TARGETSMS_CONNECT_TIMEOUT=0.5,
        TARGETSMS_READ_TIMEOUT=5,
        TARGETSMS_DUPLICATE_WINDOW_SECONDS=window,
        OTP_SEND_DEADLINE_SECONDS=45,
    )
    rt = Runtime.from_settings(settings)
    phone = "+79990000701"  # sent; the first answer trickles, later ones are plain
    first = start_worker(settings)
    req = request_code(phone, runtime=rt)
    # The SMS is out and the answer is still trickling in: kill the worker now.
    wait_until(lambda: len(sandbox.outbox(phone)) == 1, timeout=20)
    first.kill()
    assert get_status(req.id, runtime=rt).state == "sending"

    start_worker(settings)
    # The redelivered send finds the record in "sending", meets the duplicate refusal, waits
    # the window out under its lock and sends again.
    wait_until(
        lambda: get_status(req.id, runtime=rt).state not in ("queued", "sending"), timeout=60
    )
    status = get_status(req.id, runtime=rt)
    assert status.state == "sent", status.error
    older, newer = sandbox.outbox(phone)
    assert sandbox.stats()["password_generation"] == 3  # trickled, refused, sent again
    assert status.id_sms == newer["id_sms"]
    assert older["code"] != newer["code"]  # the sandbox is seeded
    assert verify_code(req.id, str(older["code"]), runtime=rt).reason == "wrong"
    assert verify_code(req.id, str(newer["code"]), runtime=rt).ok
    rt.close()


@pytest.mark.long_wait(90)
def test_with_default_timeouts_a_trickling_gateway_ends_in_one_clean_failure(
    redis_url: str,
    sandbox_factory: Callable[..., Sandbox],
    start_worker: Callable[..., WorkerProcess],
) -> None:
    """The issue's case: a byte every 2 s used to hold a send for as long as the gateway liked,
    the lock lapsed, the broker redelivered and a second worker sent again. Two workers here,
    and a visibility timeout (10 s) shorter than the default, to make redelivery certain."""
    sandbox = sandbox_factory(duplicate_window_ms=60_000, trickle_ms=2000)
    settings = make_settings(
        redis_url,
        sandbox,
        TARGETSMS_CONNECT_TIMEOUT=3.05,
        TARGETSMS_READ_TIMEOUT=10,
        OTP_SEND_DEADLINE_SECONDS=90,
    )
    rt = Runtime.from_settings(settings)
    for _ in range(2):
        start_worker(settings)
    phone = "+79990000700"  # sent; every answer trickles
    started = time.monotonic()
    req = request_code(phone, runtime=rt)
    wait_until(
        lambda: get_status(req.id, runtime=rt).state not in ("queued", "sending"), timeout=120
    )
    elapsed = time.monotonic() - started
    status = get_status(req.id, runtime=rt)
    assert status.state == "failed" and status.error is not None
    assert status.error["code"] in ("timeout", "deadline_exceeded")
    assert elapsed <= 90 + 5, elapsed  # the send deadline, plus queueing
    # Attempt 1 (cut at 13 s), the duplicate refusal, attempt 3 after the minute (cut again):
    # two SMS at most, both counted as "maybe sent", never a third.
    assert sandbox.stats()["password_generation"] == 3
    assert len(sandbox.outbox(phone)) == 2
    for message in sandbox.outbox(phone):
        assert not verify_code(req.id, str(message["code"]), runtime=rt).ok
    rt.close()
