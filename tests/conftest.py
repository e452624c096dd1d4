"""Real parts for every test: a private Redis, the sandbox gateway over loopback HTTP, real
Celery worker processes. Only TargetSMS itself is stood in for (by the sandbox)."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests
from helpers import AMQP_URL, LOGIN, PASSWORD, Sandbox, WorkerProcess, amqp_available, make_settings

from worker.dev.devstack import celery_argv, start_redis
from worker.dev.sandbox import RunningSandbox, SandboxConfig, start_in_thread
from worker.runtime import Runtime, set_runtime
from worker.settings import Settings


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


@pytest.fixture(scope="session")
def amqp_url() -> str:
    if not amqp_available():
        if os.environ.get("CI"):
            pytest.fail(f"RabbitMQ is required in CI and is not reachable at {AMQP_URL}")
        pytest.skip(f"no RabbitMQ at {AMQP_URL} (set AMQP_URL); runs in CI")
    return AMQP_URL


@pytest.fixture
def amqp_vhost(amqp_url: str) -> Iterator[str]:
    """A private vhost on the shared RabbitMQ, made (and removed) through its management API,
    which Flower also needs for queue lengths: tests that declare queues of their own
    kinds (quorum) stay out of everyone else's way."""
    parts = urlsplit(amqp_url)
    user, password = parts.username or "guest", parts.password or "guest"
    api = f"http://{parts.hostname or '127.0.0.1'}:15672/api"
    try:
        requests.get(f"{api}/overview", auth=(user, password), timeout=3).raise_for_status()
    except requests.RequestException:
        if os.environ.get("CI"):
            pytest.fail(f"RabbitMQ's management API is required in CI ({api})")
        pytest.skip(f"no RabbitMQ management API at {api} (rabbitmq-plugins enable "
                    "rabbitmq_management)")  # fmt: skip
    name = f"test-{secrets.token_hex(4)}"
    vhost = f"{api}/vhosts/{quote(name, safe='')}"
    requests.put(vhost, auth=(user, password), timeout=10).raise_for_status()
    requests.put(
        f"{api}/permissions/{quote(name, safe='')}/{quote(user, safe='')}",
        json={"configure": ".*", "write": ".*", "read": ".*"},
        auth=(user, password),
        timeout=10,
    ).raise_for_status()
    try:
        yield f"{parts.scheme}://{user}:{password}@{parts.hostname}:{parts.port or 5672}/{name}"
    finally:
        requests.delete(vhost, auth=(user, password), timeout=10)


@pytest.fixture
def sandbox_factory() -> Iterator[Callable[..., Sandbox]]:
    started: list[RunningSandbox] = []

    def start(clock: Callable[[], float] = time.time, **overrides: Any) -> Sandbox:
        """A sandbox with ``overrides``; ``clock`` (a ``FakeClock``) moves delivery and the
        duplicate window by hand."""
        # The duplicate-request rule is off unless a test asks for it: tests resend to one
        # phone within seconds (OTP_RESEND_COOLDOWN_SECONDS=0), which the platform refuses.
        config = SandboxConfig(
            **{"login": LOGIN, "password": PASSWORD, "deliver_after_ms": 300, "seed": 1,
               "duplicate_window_ms": 0, **overrides}
        )  # fmt: skip
        running = start_in_thread(config, clock)
        started.append(running)
        return Sandbox(running)

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def sandbox(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory()


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


@pytest.fixture(scope="session")
def process_runtime(redis_url: str) -> Iterator[None]:
    """The test process's own Celery producer publishes to the session Redis, like a web app
    whose settings are in its environment; tests that need other settings pass a Runtime."""
    rt = Runtime.from_settings(make_settings(redis_url))
    set_runtime(rt)
    from worker.runtime import celery_app

    assert celery_app().conf.broker_url == redis_url
    yield
    set_runtime(None)
