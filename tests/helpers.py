"""Plain helpers shared by every tier of the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis
import requests

from worker.dev.devstack import wait_until
from worker.dev.sandbox import RunningSandbox
from worker.providers.base import SmsProvider
from worker.providers.targetsms import TargetSMSClient, Timeout
from worker.runtime import Runtime
from worker.settings import Settings

__all__ = [
    "AMQP_URL",
    "LOGIN",
    "PASSWORD",
    "FakeClock",
    "GatewayAt",
    "Sandbox",
    "WorkerProcess",
    "amqp_available",
    "gateway_client",
    "make_settings",
    "metrics_named",
    "raw_redis",
    "require_tool",
    "runtime_with_clock",
    "wait_until",
]

LOGIN = "test-login"
PASSWORD = "pw-" + "s3cr3t-Пароль"
AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


def amqp_available() -> bool:
    parts = urlsplit(AMQP_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), 1):
            return True
    except OSError:
        return False


def require_tool(name: str, package: str) -> str:
    """The path of a system tool; outside CI a test without it is skipped, in CI it fails."""
    import pytest

    path = shutil.which(name)
    if path:
        return path
    why = f"{name} is not installed (apt-get install {package}; scripts/test does as root)"
    if os.environ.get("CI"):
        pytest.fail(f"{why}: required in CI")
    pytest.skip(why)


_METRIC = re.compile(r"\btargetsms_[a-z0-9_]+\b")


def metrics_named(promql: str) -> set[str]:
    """Our metric names a PromQL expression mentions."""
    return set(_METRIC.findall(promql))


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


@dataclasses.dataclass(frozen=True)
class GatewayAt:
    """The gateway URLs on a loopback port where no sandbox runs: a peer a test stands up
    itself, or (port 9, discard) nothing at all, for settings whose provider never calls out."""

    port: int = 9

    @property
    def send_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/password_generation/api.php"

    @property
    def state_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/xml/state.php"


def gateway_client(sandbox: Sandbox | GatewayAt, **overrides: Any) -> TargetSMSClient:
    """Our TargetSMS client for the sandbox, with a one-second connect and read timeout."""
    options: dict[str, Any] = {
        "login": LOGIN,
        "password": PASSWORD,
        "sender": "target",
        "service_name": "TestShop",
        "send_url": sandbox.send_url,
        "state_url": sandbox.state_url,
        "timeout": Timeout(connect=1, read=1),
        **overrides,
    }
    return TargetSMSClient(**options)


def make_settings(
    redis_url: str, sandbox: Sandbox | GatewayAt = GatewayAt(), **overrides: Any
) -> Settings:
    """Test settings: the sandbox (or no gateway, for an in-memory provider), a fresh key
    prefix, fast polls; ``overrides`` are named by environment variable (``OTP_TTL_SECONDS=2``)."""
    base = Settings().replace(
        REDIS_URL=redis_url,
        OTP_REDIS_PREFIX=f"t{secrets.token_hex(4)}:",
        TARGETSMS_URL=sandbox.send_url,
        TARGETSMS_STATE_URL=sandbox.state_url,
        TARGETSMS_LOGIN=LOGIN,
        TARGETSMS_PASSWORD=PASSWORD,
        TARGETSMS_SENDER="target",
        TARGETSMS_CONNECT_TIMEOUT=1.0,
        TARGETSMS_READ_TIMEOUT=2.0,
        OTP_SERVICE_NAME="TestShop",
        OTP_SECRET_KEY=secrets.token_urlsafe(32),
        OTP_RESEND_COOLDOWN_SECONDS=0,
        OTP_POLL_FIRST_DELAY_SECONDS=0.3,
        OTP_POLL_MAX_DELAY_SECONDS=1.0,
        CELERY_VISIBILITY_TIMEOUT=10,
        OTP_SEND_DEADLINE_SECONDS=20,
        OTP_PREFIX_MAX_PER_HOUR=1000,
        OTP_PUMPING_MIN_SENDS=10**6,
    )
    settings = base.replace(**overrides)
    assert settings.problems() == []
    return settings


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


def raw_redis(rt: Runtime) -> redis.Redis:
    """A client of the runtime's Redis for tests that look at what is stored (the product
    itself reads and writes it only through the Store)."""
    return redis.Redis.from_url(rt.settings.redis_url, decode_responses=True)


class FakeClock:
    """A clock a test moves by hand: rules that depend on time are tested without sleeping."""

    def __init__(self) -> None:
        import time

        self.now = time.time()
        self.slept: list[float] = []  # every ``sleep``, in order

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        """A ``time.sleep`` for code that takes one: the wait passes at once, on this clock."""
        self.slept.append(seconds)
        self.advance(seconds)


def runtime_with_clock(
    settings: Settings, clock: FakeClock, provider: SmsProvider | None = None
) -> Runtime:
    """A runtime whose Store reads ``clock`` instead of the Redis server's time."""
    from worker.store import Store

    store = Store.from_url(settings.redis_url, settings.redis_prefix, clock=clock)
    return Runtime(settings, store, sms_provider=provider)


# A port bound for this whole process and never listened on: a connection to it is refused at
# once, and no other test process (pytest-xdist) can take it, which a port freed by
# ``free_port()`` does not promise. For "nothing answers there" endpoints.
_REFUSING = socket.socket()
_REFUSING.bind(("127.0.0.1", 0))


def refused_port() -> int:
    return int(_REFUSING.getsockname()[1])
