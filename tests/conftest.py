"""Real parts for every test: a private Redis, the sandbox gateway over loopback HTTP, real
Celery worker processes. Only TargetSMS itself is stood in for (by the sandbox).

``./scripts/test`` runs the suite in parallel (pytest-xdist, one pytest session per worker), so
every test must be safe beside any other one. The rule for a new test, e2e above all:

- Shared services only through these fixtures: ``redis_url`` (a redis-server per worker),
  ``amqp_url`` (a RabbitMQ vhost per worker) or ``amqp_vhost`` (one per test), ``sandbox`` /
  ``sandbox_factory``, ``start_worker``. Never the system Redis on 6379, RabbitMQ's default
  vhost, or ``AMQP_URL`` / ``TEST_REDIS_URL`` read directly.
- No fixed port: ``--port 0`` or ``free_port()`` just before the server starts; an endpoint
  where nothing may answer is ``refused_port()`` (held by this process, never listened on).
- Files under ``tmp_path``; anything kept in the repository (``test-artifacts/``) in a
  directory named after the test.
- Keys under ``make_settings``' fresh prefix; a queue or exchange the test declares on a shared
  vhost gets a random suffix (``secrets.token_hex``).
- Parameters with a random part (a fresh token) get ``ids=``: every worker collects the tests
  itself, and xdist refuses to start when their ids differ.
- Stop only the processes the test started, by their id; assert nothing about the machine as
  a whole (process lists, load, how long an idle machine would take): three or four test
  processes share two cores, so wait for the condition (``wait_until``), never for a time.
- A test that waits long on real time (a default deadline) is marked ``long_wait(seconds)``,
  so that its wait starts at once on a worker of its own (``pytest_collection_modifyitems``).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from helpers import AMQP_URL, LOGIN, PASSWORD, Sandbox, WorkerProcess, amqp_available, make_settings

from worker.dev.devstack import celery_argv, private_redis
from worker.dev.rabbitmq import management_api, private_vhost
from worker.dev.sandbox import RunningSandbox, SandboxConfig, start_in_thread
from worker.runtime import Runtime, set_runtime
from worker.settings import Settings


def _worksteal_shares(n: int, workers: int) -> list[int]:
    """Where each worker's first share of ``n`` tests starts: xdist's worksteal hands them out
    in order, ``len(pending) // nodes_left`` each, then steals from the back of a queue."""
    starts, given = [], 0
    for left in range(workers, 0, -1):
        starts.append(given)
        given += (n - given) // left
    return starts


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The ``long_wait`` tests go to the front of each worker's share, longest first: their waits
    then overlap from the start instead of one of them ending the run alone (measured on the
    2-core VM: the 90 s trickle test began 126 s in, and the run took 242 s)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))

    def wait(item: pytest.Item) -> float:
        mark = item.get_closest_marker("long_wait")
        return float(mark.args[0]) if mark is not None else 0.0

    long = sorted((i for i in items if wait(i)), key=wait, reverse=True)
    if workers < 2 or not long:
        return
    rest = iter([i for i in items if not wait(i)])
    n, at = len(items), {}
    starts = _worksteal_shares(n, workers)
    for k, item in enumerate(long):
        want = min(starts[k % workers] + k // workers, n - 1)
        # A few tests (one file, say) give shares of 0 or 1: then the next free place.
        place = next(p for p in (*range(want, n), *range(want)) if p not in at)
        at[place] = item
    items[:] = [at[i] if i in at else next(rest) for i in range(n)]


def _xdist_worker() -> str:
    """This process's pytest-xdist worker id (``gw0``, ``gw1``...), or ``""`` in a plain run."""
    return os.environ.get("PYTEST_XDIST_WORKER", "")


def _private_redis_db(url: str, worker: str) -> str:
    """TEST_REDIS_URL shared by xdist workers: each takes its own database number, since the
    broker's queue names and the tests' cleanups are fixed names."""
    if not worker:
        return url
    parts = urlsplit(url)
    db = int(parts.path.strip("/") or 0) + int(worker.removeprefix("gw"))
    return urlunsplit(parts._replace(path=f"/{db}"))


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A private, diskless redis-server per session (so per xdist worker), or TEST_REDIS_URL:
    never the user's data."""
    if os.environ.get("TEST_REDIS_URL"):
        yield _private_redis_db(os.environ["TEST_REDIS_URL"], _xdist_worker())
        return
    with private_redis() as url:
        yield url


def _require_amqp() -> None:
    if not amqp_available():
        if os.environ.get("CI"):
            pytest.fail(f"RabbitMQ is required in CI and is not reachable at {AMQP_URL}")
        pytest.skip(f"no RabbitMQ at {AMQP_URL} (set AMQP_URL); runs in CI")


def _management_api(why: str) -> bool:
    """Whether AMQP_URL's broker answers on its management API (CI fails without it)."""
    mgmt = management_api(AMQP_URL)
    try:
        requests.get(f"{mgmt.api}/overview", auth=mgmt.auth, timeout=3).raise_for_status()
    except requests.RequestException:
        if os.environ.get("CI"):
            pytest.fail(f"RabbitMQ's management API is required in CI ({mgmt.api}): {why}")
        return False
    return True


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    """RabbitMQ for this session alone: a vhost of its own (per xdist worker), since the task
    queues have fixed names. Without the management API a plain run shares AMQP_URL's vhost,
    and a parallel one skips (CI fails: scripts/test enables the plugin)."""
    _require_amqp()
    worker = _xdist_worker()
    if not _management_api("each test session gets its own vhost"):
        if worker:
            pytest.skip(
                "parallel RabbitMQ tests need the management API for a vhost per worker "
                "(rabbitmq-plugins enable rabbitmq_management), or run with -n 0"
            )
        yield AMQP_URL
        return
    with private_vhost(AMQP_URL, f"test-{worker or 'main'}") as url:
        yield url


@pytest.fixture
def amqp_vhost() -> Iterator[str]:
    """A private vhost for one test, made (and removed) through RabbitMQ's management API,
    which Flower also needs for queue lengths: tests that declare queues of their own kinds
    (quorum) or read a vhost's totals stay out of everyone else's way."""
    _require_amqp()
    if not _management_api("Flower's queue lengths and per-test vhosts"):
        pytest.skip(f"no RabbitMQ management API for {AMQP_URL} (rabbitmq-plugins enable "
                    "rabbitmq_management)")  # fmt: skip
    with private_vhost(AMQP_URL, f"test-{_xdist_worker() or 'main'}") as url:
        yield url


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
