"""No phone number, code, login or password in a task message, a worker log line, a Flower
page, a CLI status or an exception text -- checked on real processes."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from helpers import LOGIN, PASSWORD, Sandbox, WorkerProcess, make_settings, raw_redis, wait_until

from worker import get_status, request_code, verify_code
from worker.core.delivery import FINAL_STATUSES
from worker.dev.devstack import celery_argv, free_port
from worker.queue.names import POLL_QUEUE, SEND_QUEUE
from worker.runtime import Runtime

PHONES = ["+79001234567", "+79990000102", "+79990000201", "+79990000301"]


def secrets_in(text: str, codes: list[str]) -> list[str]:
    found = [s for s in (LOGIN, PASSWORD) if s in text]
    found += [p for p in PHONES if p in text or p[1:] in text or p[2:] in text]
    found += [c for c in codes if c in text]
    return found


def test_task_messages_carry_ids_only(redis_url: str, sandbox: Sandbox) -> None:
    rt = Runtime.from_settings(make_settings(redis_url, sandbox))
    client = raw_redis(rt)
    before = client.llen(SEND_QUEUE)
    ids = [request_code(phone, runtime=rt).id for phone in PHONES]
    # LPUSH puts the newest messages at the head of the list.
    raw = client.lrange(SEND_QUEUE, 0, client.llen(SEND_QUEUE) - before - 1)
    assert len(raw) == len(ids)
    for message in raw:
        assert not secrets_in(message, [])
        envelope = json.loads(message)
        assert envelope["headers"]["task"] == "tasks.send_code"
        assert any(repr(i) in envelope["headers"]["argsrepr"] for i in ids)
    client.delete(SEND_QUEUE, POLL_QUEUE)


@pytest.mark.long_wait(12)
def test_logs_flower_and_status_hold_no_secrets(
    redis_url: str,
    sandbox: Sandbox,
    start_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    settings = make_settings(redis_url, sandbox, TARGETSMS_READ_TIMEOUT=0.5)
    rt = Runtime.from_settings(settings)
    flower_auth = ("ops", secrets.token_urlsafe(32))
    env = {
        **os.environ,
        **settings.to_env(),
        "PYTHONUNBUFFERED": "1",
        "FLOWER_BASIC_AUTH": ":".join(flower_auth),
    }
    port = free_port()
    flower_log = tmp_path / "flower.log"
    flower = subprocess.Popen(
        celery_argv("flower", f"--port={port}", "--address=127.0.0.1"),
        env=env,
        stdout=flower_log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        worker = start_worker(settings, env={"CELERY_LOG_LEVEL": "DEBUG"})

        def flower_tasks(wanted: list[str]) -> dict[str, dict[str, object]] | None:
            try:
                r = requests.get(f"http://127.0.0.1:{port}/api/tasks", auth=flower_auth, timeout=2)
            except requests.ConnectionError:
                return None
            tasks: dict[str, dict[str, object]] = r.json() if r.ok else {}
            seen = " ".join(str(t.get("args")) for t in tasks.values())
            return tasks if all(i in seen for i in wanted) else None

        # Flower records only the events it receives once subscribed: send probes until one
        # shows up there.
        def probe_seen() -> bool:
            probe = request_code(f"+7900111{secrets.randbelow(10**4):04d}", runtime=rt).id
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                if flower_tasks([probe]):
                    return True
                time.sleep(0.2)
            return False

        wait_until(probe_seen, timeout=40)

        ids = [request_code(phone, client_ip="198.51.100.4", runtime=rt).id for phone in PHONES]
        for verification_id in ids:
            wait_until(
                lambda v=verification_id: get_status(v, runtime=rt).state in ("sent", "failed")
            )
        codes = [m["code"] for m in sandbox.outbox()]
        assert codes
        for verification_id in ids:
            verify_code(verification_id, "000000", runtime=rt)
        # Wait for the delivery polls to have run and logged (a positive signal), then read.
        wait_until(
            lambda: (
                "polled " in worker.output()
                and all(
                    (st := get_status(v, runtime=rt)).state == "failed"
                    or st.delivery_status in FINAL_STATUSES
                    for v in ids
                )
            ),
            timeout=30,
        )
        assert not secrets_in(worker.output(), codes), worker.output()[-2000:]

        tasks = wait_until(lambda: flower_tasks(ids), timeout=30, interval=0.5)
        assert not secrets_in(json.dumps(tasks, ensure_ascii=False), codes)
        send_args = " ".join(
            str(t["args"]) for t in tasks.values() if t["name"] == "tasks.send_code"
        )
        assert all(i in send_args for i in ids)
        page = requests.get(f"http://127.0.0.1:{port}/tasks", auth=("u", "p"), timeout=5).text
        assert not secrets_in(page, codes)
        assert requests.get(f"http://127.0.0.1:{port}/tasks", timeout=5).status_code == 401

        for verification_id in ids:
            status = subprocess.run(
                [sys.executable, "-m", "worker.ops.cli", "status", verification_id],
                env=env, capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            assert status.returncode == 0
            assert not secrets_in(status.stdout + status.stderr, codes)
    finally:
        flower.terminate()
        flower.wait(10)
