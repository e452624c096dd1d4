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

import requests

from worker.devstack import wait_until
from worker.sandbox import RunningSandbox
from worker.settings import Settings

__all__ = [
    "AMQP_URL",
    "LOGIN",
    "PASSWORD",
    "Sandbox",
    "WorkerProcess",
    "amqp_available",
    "make_settings",
    "metrics_named",
    "require_tool",
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
