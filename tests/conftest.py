"""Real parts for every test: a private Redis, the sandbox gateway over loopback HTTP, real
Celery worker processes. Only TargetSMS itself is stood in for (by the sandbox)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from worker.devstack import celery_argv, start_redis
from worker.runtime import Runtime, set_runtime
from worker.sandbox import RunningSandbox, SandboxConfig, start_in_thread
from worker.settings import Settings

LOGIN = "test-login"
PASSWORD = "pw-" + "s3cr3t-Пароль"
AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A private, diskless redis-server (or TEST_REDIS_URL): never the user's data."""
    if os.environ.get("TEST_REDIS_URL"):
        yield os.environ["TEST_REDIS_URL"]
        return
    url, proc, tmp = start_redis()
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        tmp.cleanup()


def amqp_available() -> bool:
    parts = urlsplit(AMQP_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), 1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def amqp_url() -> str:
    if not amqp_available():
        if os.environ.get("CI"):
            pytest.fail(f"RabbitMQ is required in CI and is not reachable at {AMQP_URL}")
        pytest.skip(f"no RabbitMQ at {AMQP_URL} (set AMQP_URL); runs in CI")
    return AMQP_URL


class Sandbox:
    """The running sandbox plus helpers to read what it saw."""

    def __init__(self, running: RunningSandbox) -> None:
        self.running = running
        self.url = running.url
        self.send_url = f"{self.url}/password_generation/api.php"
        self.state_url = f"{self.url}/xml/state.php"

    def outbox(self, phone: str | None = None) -> list[dict[str, Any]]:
        params = {"phone": phone} if phone else None
        response = requests.get(f"{self.url}/sandbox/outbox", params=params, timeout=5)
        response.raise_for_status()
        messages: list[dict[str, Any]] = response.json()["messages"]
        return messages

    def last_code(self, phone: str) -> str:
        messages = self.outbox(phone)
        assert messages, "no SMS reached the sandbox outbox"
        return str(messages[-1]["code"])

    def stats(self) -> dict[str, int]:
        response = requests.get(f"{self.url}/sandbox/stats", timeout=5)
        response.raise_for_status()
        stats: dict[str, int] = response.json()
        return stats

    def reset(self) -> None:
        requests.post(f"{self.url}/sandbox/reset", timeout=5).raise_for_status()


@pytest.fixture
def sandbox_factory() -> Iterator[Callable[..., Sandbox]]:
    started: list[RunningSandbox] = []

    def start(**overrides: Any) -> Sandbox:
        config = SandboxConfig(
            login=LOGIN, password=PASSWORD, deliver_after_ms=300, seed=1, **overrides
        )
        running = start_in_thread(config)
        started.append(running)
        return Sandbox(running)

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def sandbox(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory()


def make_settings(redis_url: str, sandbox: Sandbox, **overrides: Any) -> Settings:
    base = Settings(
        redis_url=redis_url,
        redis_prefix=f"t{secrets.token_hex(4)}:",
        targetsms_url=sandbox.send_url,
        targetsms_state_url=sandbox.state_url,
        targetsms_login=LOGIN,
        targetsms_password=PASSWORD,
        targetsms_sender="target",
        targetsms_connect_timeout=1.0,
        targetsms_read_timeout=2.0,
        service_name="TestShop",
        secret_key=secrets.token_urlsafe(32),
        resend_cooldown_seconds=0,
        poll_first_delay_seconds=0.3,
        poll_max_delay_seconds=1.0,
        visibility_timeout=10,
        send_deadline_seconds=20,
        prefix_max_per_hour=1000,
        pumping_min_sends=10**6,
    )
    settings = dataclasses.replace(base, **overrides)
    assert settings.problems() == []
    return settings


@pytest.fixture
def settings(redis_url: str, sandbox: Sandbox) -> Settings:
    return make_settings(redis_url, sandbox)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    from worker.runtime import get_runtime

    previous = get_runtime()
    rt = Runtime.from_settings(settings)
    set_runtime(rt)
    try:
        yield rt
    finally:
        set_runtime(previous)
        rt.close()


@dataclasses.dataclass
class WorkerProcess:
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start ``celery -A worker worker`` processes with the given settings' environment."""
    workers: list[WorkerProcess] = []

    def start(
        settings: Settings, *, concurrency: int = 8, env: dict[str, str] | None = None
    ) -> WorkerProcess:
        n = len(workers)
        log = tmp_path / f"worker-{n}.log"
        full_env = {**os.environ, **settings.to_env(), "PYTHONUNBUFFERED": "1", **(env or {})}
        argv = celery_argv(
            "worker", "--pool", "threads", "--concurrency", str(concurrency),
            "--without-mingle", "--without-gossip", "--loglevel", "INFO",
            "--hostname", f"test{n}-{secrets.token_hex(3)}@%h",
        )  # fmt: skip
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                argv, env=full_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        worker = WorkerProcess(proc, log)
        workers.append(worker)
        deadline = time.monotonic() + 30
        while " ready." not in worker.output():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker did not start:\n{worker.output()[-3000:]}")
            time.sleep(0.05)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def wait_until(check: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy; fail with the last value otherwise."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value:
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last: {value!r})")
        time.sleep(interval)
        value = check()
    return value


@pytest.fixture(scope="session", autouse=True)
def process_runtime(redis_url: str) -> Iterator[None]:
    """The test process's own Celery producer publishes to the session Redis, like a web app
    whose settings are in its environment; tests that need other settings pass a Runtime."""
    holder = Sandbox.__new__(Sandbox)
    holder.send_url = "http://127.0.0.1:9/password_generation/api.php"
    holder.state_url = "http://127.0.0.1:9/xml/state.php"
    rt = Runtime.from_settings(make_settings(redis_url, holder))
    set_runtime(rt)
    from worker.celery_app import app

    assert app.conf.broker_url == redis_url
    yield
    set_runtime(None)
