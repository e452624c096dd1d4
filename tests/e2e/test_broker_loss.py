"""A Redis (store and broker) that goes away and comes back: nothing hangs, nothing crashes,
the producer answers clearly while it is gone, and the worker carries on once it is back."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from helpers import Sandbox, WorkerProcess, make_settings, wait_until

from worker import ServiceUnavailable, get_status, request_code
from worker.dev.devstack import start_redis
from worker.runtime import Runtime


def test_worker_and_producer_survive_a_redis_restart(
    sandbox: Sandbox, start_worker: Callable[..., WorkerProcess]
) -> None:
    url, proc, tmp = start_redis()
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    try:
        settings = make_settings(url, sandbox)
        rt = Runtime.from_settings(settings)
        worker = start_worker(settings)

        # The test process's Celery producer publishes to the session broker, so this test
        # drives the worker through the CLI's environment instead: see _send below.
        first = _send(settings, "+79001234567")
        wait_until(lambda: get_status(first, runtime=rt).state == "sent")

        proc.terminate()
        proc.wait(10)
        with pytest.raises(ServiceUnavailable):
            get_status(first, runtime=rt)

        proc, tmp2 = start_redis(port)[1:]
        tmp.cleanup()
        tmp = tmp2
        second = wait_until(lambda: _try_send(settings, "+79001234568"), timeout=30)
        wait_until(lambda: get_status(second, runtime=rt).state == "sent", timeout=60)
        # The same worker process reconnected (worker.queue.kombu_redis keeps kombu from
        # crashing it).
        assert worker.proc.poll() is None
        assert "Unrecoverable error" not in worker.output()
        assert "Connection to broker lost" in worker.output()
    finally:
        proc.terminate()
        proc.wait(10)
        tmp.cleanup()


def _send(settings: object, phone: str) -> str:
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, **settings.to_env()}  # type: ignore[attr-defined]
    out = subprocess.run(
        [sys.executable, "-m", "worker.ops.cli", "send", phone], env=env, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    return str(json.loads(out.stdout)["id"])


def _try_send(settings: object, phone: str) -> str | None:
    try:
        return _send(settings, phone)
    except AssertionError:
        return None


def test_a_stalled_store_requeues_the_send_instead_of_losing_it(
    redis_url: str, sandbox: Sandbox, start_worker: Callable[..., WorkerProcess]
) -> None:
    """Records in one Redis, the broker in another; the records' Redis stops answering."""
    import signal

    store_url, proc, tmp = start_redis()
    try:
        settings = make_settings(store_url, sandbox, CELERY_BROKER_URL=redis_url)
        rt = Runtime.from_settings(settings)
        req = request_code("+79001234569", runtime=rt)
        proc.send_signal(signal.SIGSTOP)  # the record is there, but Redis does not answer
        worker = start_worker(settings)
        wait_until(lambda: "is unavailable" in worker.output(), timeout=30)
        proc.send_signal(signal.SIGCONT)
        wait_until(lambda: get_status(req.id, runtime=rt).state == "sent", timeout=60)
        assert len(sandbox.outbox("+79001234569")) == 1
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.terminate()
        proc.wait(10)
        tmp.cleanup()
