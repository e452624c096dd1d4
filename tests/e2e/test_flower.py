"""Flower shows the truth, on real processes: queue lengths for the Redis broker (our patched
transport) and for RabbitMQ, a failed send as a FAILURE with only its stable error code, and a
Flower password that never appears on a command line."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from helpers import LOGIN, PASSWORD, Sandbox, WorkerProcess, make_settings, wait_until

from worker import get_status, request_code
from worker.dev.devstack import celery_argv, free_port
from worker.queue.names import SEND_QUEUE
from worker.runtime import Runtime
from worker.settings import Settings

FLOWER_USER, FLOWER_PASSWORD = "ops", secrets.token_urlsafe(32)
AUTH = (FLOWER_USER, FLOWER_PASSWORD)
PHONE = "+79001234567"


class Flower:
    def __init__(self, proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.proc, self.log = proc, log
        self.url = f"http://127.0.0.1:{port}"

    def get(self, path: str) -> requests.Response:
        return requests.get(f"{self.url}{path}", auth=AUTH, timeout=5)

    def queue_lengths(self) -> dict[str, int]:
        answer = self.get("/api/queues/length")
        assert answer.status_code == 200, answer.text
        # RabbitMQ leaves "messages" out until its statistics first cover a new queue.
        return {q["name"]: q.get("messages", -1) for q in answer.json()["active_queues"]}

    def tasks(self) -> dict[str, dict[str, Any]]:
        try:
            answer = self.get("/api/tasks")
        except requests.ConnectionError:
            return {}
        tasks: dict[str, dict[str, Any]] = answer.json() if answer.ok else {}
        return tasks

    def send_task_for(self, verification_id: str) -> dict[str, Any] | None:
        for task in self.tasks().values():
            if task.get("name") == "tasks.send_code" and verification_id in str(task.get("args")):
                return task
        return None


@pytest.fixture
def start_flower(tmp_path: Path) -> Iterator[Callable[[Settings], Flower]]:
    started: list[Flower] = []

    def start(settings: Settings) -> Flower:
        port = free_port()
        log = tmp_path / f"flower-{port}.log"
        env = {
            **os.environ, **settings.to_env(), "PYTHONUNBUFFERED": "1",
            "FLOWER_BASIC_AUTH": f"{FLOWER_USER}:{FLOWER_PASSWORD}",
        }  # fmt: skip
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                celery_argv("flower", f"--port={port}", "--address=127.0.0.1"),
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        flower = Flower(proc, port, log)
        started.append(flower)

        def answers() -> bool:
            try:
                return requests.get(f"{flower.url}/healthcheck", timeout=1).ok
            except requests.ConnectionError:
                return False

        wait_until(answers, 40, "flower", alive=[proc])
        return flower

    yield start
    for flower in started:
        flower.proc.terminate()
        flower.proc.wait(10)


def test_flower_refuses_to_start_without_a_password_in_its_environment(
    redis_url: str, sandbox: Sandbox
) -> None:
    env = {**os.environ, **make_settings(redis_url, sandbox).to_env()}
    env.pop("FLOWER_BASIC_AUTH", None)
    out = subprocess.run(
        celery_argv("flower", f"--port={free_port()}", "--address=127.0.0.1"),
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 78
    assert out.stderr.strip().splitlines() == [
        "targetsms-worker: Flower needs FLOWER_BASIC_AUTH=user:password in its environment"
    ]


@pytest.mark.parametrize(
    ("credential", "on_argv"),
    [
        ("admin:change-me", False),  # what the example files shipped
        ("ops:Summer2024!", False),  # too short
        ("ops:" + "ab12" * 8, False),  # a repeated block
        ("admin:admin-password-1", True),  # on the command line, checked too
    ],
    ids=["shipped", "short", "pattern", "argv"],
)
def test_flower_refuses_a_guessable_password(
    redis_url: str, sandbox: Sandbox, credential: str, on_argv: bool
) -> None:
    env = {**os.environ, **make_settings(redis_url, sandbox).to_env()}
    env.pop("FLOWER_BASIC_AUTH", None)
    if not on_argv:
        env["FLOWER_BASIC_AUTH"] = credential
    argv = [f"--basic-auth={credential}"] if on_argv else []
    out = subprocess.run(
        celery_argv("flower", f"--port={free_port()}", "--address=127.0.0.1", *argv),
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 78, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "FLOWER_BASIC_AUTH password" in lines[0], out.stderr
    assert "secrets.token_urlsafe(32)" in lines[0]
    assert credential.partition(":")[2] not in out.stderr


def test_redis_broker_queue_lengths_and_a_failed_send_is_a_failure(
    redis_url: str,
    sandbox: Sandbox,
    start_worker: Callable[..., WorkerProcess],
    start_flower: Callable[[Settings], Flower],
) -> None:
    # Wrong credentials: every send ends failed with auth_failed.
    settings = make_settings(redis_url, sandbox, TARGETSMS_PASSWORD=PASSWORD + "-wrong")
    rt = Runtime.from_settings(settings)
    broker = redis.Redis.from_url(redis_url)
    flower = start_flower(settings)

    # The password is in Flower's environment, not on its command line (what `ps` shows).
    cmdline = Path(f"/proc/{flower.proc.pid}/cmdline").read_bytes().decode()
    assert FLOWER_PASSWORD not in cmdline and "basic" not in cmdline
    assert requests.get(f"{flower.url}/api/queues/length", timeout=5).status_code == 401

    # No worker yet: the requests wait in the Redis list, and Flower reads its length.
    page = flower.get("/broker")
    assert page.status_code == 200 and "not supported" not in page.text, page.text[:500]
    queued = [request_code(PHONE[:-2] + f"{i:02d}", runtime=rt).id for i in range(3)]
    assert broker.llen(SEND_QUEUE) >= 3
    lengths = flower.queue_lengths()
    assert lengths[SEND_QUEUE] == broker.llen(SEND_QUEUE) >= 3

    worker = start_worker(settings)
    wait_until(lambda: flower.queue_lengths()[SEND_QUEUE] == 0, 30, "queue drained")
    for verification_id in queued:
        wait_until(lambda v=verification_id: get_status(v, runtime=rt).state == "failed")

    # Flower records the events it receives once the worker sends them: probe until a send's
    # FAILURE shows up there (each probe is a new failing send).
    def failed_in_flower() -> dict[str, Any] | None:
        probe = request_code(f"+7900111{secrets.randbelow(10**4):04d}", runtime=rt).id
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            task = flower.send_task_for(probe)
            if task and task.get("state") == "FAILURE":
                return task
            time.sleep(0.2)
        return None

    task = wait_until(failed_in_flower, 60, "a FAILURE in Flower's task API", interval=0.1)
    assert task["exception"] == "SendFailed('auth_failed')"
    assert not task.get("retries")
    text = f"{task['exception']} {task.get('traceback')} {task.get('result')}"
    for secret in (LOGIN, PASSWORD, PASSWORD + "-wrong"):
        assert secret not in text
    dashboard = flower.get("/api/workers?refresh=1").json()
    assert dashboard, "Flower sees the worker"
    # An expected failure is one log line, not a traceback.
    assert "SendFailed" in worker.output() or "auth_failed" in worker.output()
    assert "Traceback" not in worker.output()
    rt.close()


def test_rabbitmq_broker_queue_lengths(
    redis_url: str,
    sandbox: Sandbox,
    amqp_vhost: str,
    start_flower: Callable[[Settings], Flower],
) -> None:
    settings = make_settings(redis_url, sandbox, CELERY_BROKER_URL=amqp_vhost)
    env = {**os.environ, **settings.to_env()}
    # Published by the CLI (its own process, its own broker URL); no worker consumes them.
    for i in range(3):
        out = subprocess.run(
            [sys.executable, "-m", "worker.ops.cli", "send", PHONE[:-2] + f"{i + 10:02d}"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
    flower = start_flower(settings)
    # RabbitMQ's management statistics refresh every few seconds.
    wait_until(lambda: flower.queue_lengths().get(SEND_QUEUE) == 3, 40, "3 messages in Flower")
    page = flower.get("/broker")
    assert page.status_code == 200 and SEND_QUEUE in page.text
