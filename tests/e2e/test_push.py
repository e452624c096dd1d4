"""Pushed delivery statuses end to end: a real ``targetsms push-receiver`` process, the sandbox
pushing to it (its URL set with ``targetsms push-register``), a real worker with
``TARGETSMS_PUSH=1``. Deliveries arrive by push with no ``state`` request; a receiver whose Redis
is away acknowledges nothing, the sandbox retries, and nothing is lost."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from helpers import Sandbox, WorkerProcess, make_settings, raw_redis, refused_port, wait_until

from worker import get_status, request_code
from worker.runtime import Runtime
from worker.settings import Settings

TOKEN = secrets.token_urlsafe(32)


class Receiver:
    def __init__(self, proc: subprocess.Popen[str], log: Path, url: str) -> None:
        self.proc, self.log, self.url = proc, log, url

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker.ops.cli", *args],
        env={**os.environ, **settings.to_env()}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.fixture
def start_receiver(tmp_path: Path) -> Iterator[Callable[[Settings], Receiver]]:
    started: list[Receiver] = []

    def start(settings: Settings) -> Receiver:
        log = tmp_path / f"receiver-{len(started)}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "worker.ops.cli", "-v", "push-receiver", "--port", "0"],
                env={**os.environ, **settings.to_env(), "PYTHONUNBUFFERED": "1"},
                stdout=out, stderr=subprocess.STDOUT, text=True, start_new_session=True,
            )  # fmt: skip
        banner = wait_until(
            lambda: re.search(r"listening on (http://\S+)", log.read_text()), timeout=30
        )
        receiver = Receiver(proc, log, f"{banner.group(1)}/targetsms/state/{TOKEN}")
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(receiver.proc.pid, signal.SIGTERM)
        receiver.proc.wait(10)


@pytest.fixture
def push_settings(redis_url: str, sandbox: Sandbox) -> Settings:
    return make_settings(redis_url, sandbox, TARGETSMS_PUSH=True, TARGETSMS_PUSH_TOKEN=TOKEN)


def delivered(rt: Runtime, ids: list[str]) -> bool:
    return all(get_status(i, runtime=rt).delivery_status == "deliver" for i in ids)


def test_statuses_arrive_by_push_without_polling(
    push_settings: Settings,
    sandbox: Sandbox,
    start_worker: Callable[..., WorkerProcess],
    start_receiver: Callable[[Settings], Receiver],
) -> None:
    receiver = start_receiver(push_settings)
    registered = cli(push_settings, "push-register", receiver.url)
    assert registered.returncode == 0, registered.stderr
    assert TOKEN not in registered.stdout and "***" in registered.stdout
    start_worker(push_settings)
    rt = Runtime.from_settings(push_settings)
    n = 20
    ids = [request_code(f"+7900444{i:04d}", runtime=rt).id for i in range(n)]
    wait_until(lambda: delivered(rt, ids), timeout=60)
    # The receiver stores a status before the sandbox reads its answer: wait for the count too.
    wait_until(lambda: sandbox.stats().get("push_acked", 0) >= n, timeout=10)

    stats = sandbox.stats()
    assert stats["password_generation"] == n
    assert stats["state"] == 0  # the first poll is minutes away: every status came by push
    assert stats["push_acked"] == n and stats.get("push_retries", 0) == 0
    output = receiver.output()
    assert re.search(r"push: \d+ states, \d+ accepted", output)
    assert TOKEN not in output
    # Nothing is left to poll: final statuses took every id out of the poll set.
    assert raw_redis(rt).zcard(rt.store.keys.poll) == 0


def test_a_receiver_without_redis_withholds_the_ack_and_nothing_is_lost(
    push_settings: Settings,
    sandbox: Sandbox,
    start_worker: Callable[..., WorkerProcess],
    start_receiver: Callable[[Settings], Receiver],
) -> None:
    live = start_receiver(push_settings)
    dead = start_receiver(push_settings.replace(REDIS_URL=f"redis://127.0.0.1:{refused_port()}/0"))
    assert cli(push_settings, "push-register", dead.url).returncode == 0
    start_worker(push_settings)
    rt = Runtime.from_settings(push_settings)
    vid = request_code("+79004440100", runtime=rt).id

    # The push reaches a receiver whose Redis is away: no id acknowledged, the sandbox retries.
    wait_until(lambda: sandbox.stats().get("push_retries", 0) >= 1, timeout=30)
    assert "0 accepted (Redis unavailable" in dead.output()
    assert get_status(vid, runtime=rt).delivery_status == "send"
    # Redis is back (here: the URL points at a receiver that has it): the retry lands.
    assert cli(push_settings, "push-register", live.url).returncode == 0
    wait_until(lambda: delivered(rt, [vid]), timeout=30)
    wait_until(lambda: sandbox.stats().get("push_acked", 0) >= 1, timeout=10)
    stats = sandbox.stats()
    assert stats["push_acked"] == 1 and stats["state"] == 0
    assert stats.get("push_given_up", 0) == 0


def test_receiver_and_register_refuse_without_a_good_token(
    redis_url: str, sandbox: Sandbox
) -> None:
    for token in ("", "too-short", "change-me-to-a-long-random-string"):
        # Settings refuse a weak token themselves (make_settings would assert): built past that.
        settings = make_settings(redis_url, sandbox).replace(TARGETSMS_PUSH_TOKEN=token)
        result = cli(settings, "push-receiver", "--port", "0")
        assert result.returncode == 1 and "TARGETSMS_PUSH_TOKEN" in result.stderr
        assert result.stderr.count("\n") == 1
        assert not token or token not in result.stderr
    settings = make_settings(redis_url, sandbox, TARGETSMS_PUSH_TOKEN=TOKEN)
    wrong = cli(settings, "push-register", "https://example.com/hook")
    assert wrong.returncode == 1 and "/targetsms/state/<TARGETSMS_PUSH_TOKEN>" in wrong.stderr
    http = cli(settings, "push-register", f"http://example.com/targetsms/state/{TOKEN}")
    assert http.returncode == 1 and "https" in http.stderr and TOKEN not in http.stderr
    off = cli(settings, "push-register", "--off")
    assert off.returncode == 0 and sandbox.stats()["get_state_set"] == 1


SLOW_CLIENTS = 1000


def _threads(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^Threads:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]


def _sockets(pid: int) -> int:
    fds = Path(f"/proc/{pid}/fd")
    return sum(1 for fd in fds.iterdir() if os.readlink(fd).startswith("socket:"))


def _half_sent(host: str, port: int, i: int) -> socket.socket:
    """A client that sent part of a push and then goes quiet: half of them stop inside the
    headers, half inside the body."""
    sock = socket.create_connection((host, port), timeout=10)
    head = f"POST /targetsms/state/{TOKEN} HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n"
    sock.sendall((head + ("\r\n<response>" if i % 2 else "X-Slow: 1")).encode())
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


@pytest.mark.long_wait(14)
def test_a_thousand_slow_clients_neither_stop_real_pushes_nor_grow_threads_and_sockets(
    push_settings: Settings,
    sandbox: Sandbox,
    start_worker: Callable[..., WorkerProcess],
    start_receiver: Callable[[Settings], Receiver],
) -> None:
    from worker.web.serving import PUSH_LIMITS

    receiver = start_receiver(push_settings)
    host, port = re.match(r"http://([^:/]+):(\d+)", receiver.url).groups()  # type: ignore[union-attr]
    assert cli(push_settings, "push-register", receiver.url).returncode == 0
    start_worker(push_settings)
    rt = Runtime.from_settings(push_settings)
    pid = receiver.proc.pid
    threads_idle = _threads(pid)

    slow = [_half_sent(host, int(port), i) for i in range(SLOW_CLIENTS)]
    # A client trickling a header byte every half second is cut at the header deadline, however
    # steadily it keeps sending.
    trickler = socket.create_connection((host, int(port)), timeout=10)
    trickler.sendall(f"POST /targetsms/state/{TOKEN} HTTP/1.1\r\n".encode())
    trickle_started, trickle_cut_after = time.monotonic(), []
    stop_trickling = threading.Event()

    def trickle() -> None:
        while not stop_trickling.wait(0.5):
            try:
                trickler.sendall(b"X")
            except OSError:
                trickle_cut_after.append(time.monotonic() - trickle_started)
                return

    trickling = threading.Thread(target=trickle, daemon=True)
    trickling.start()

    try:
        n = 10
        ids = [request_code(f"+7900555{i:04d}", runtime=rt).id for i in range(n)]
        wait_until(lambda: delivered(rt, ids), timeout=60, what="pushes past the slow clients")
        # The platform's pushes all landed, and a push of our own is answered too.
        direct = requests.post(
            receiver.url, data=b'<response><state id_sms="1">deliver</state></response>',
            timeout=30,
        )  # fmt: skip
        assert direct.status_code == 200 and "<id_sms>1</id_sms>" in direct.text
        wait_until(lambda: sandbox.stats().get("push_acked", 0) >= n, timeout=10)
        assert sandbox.stats()["push_acked"] == n

        threads, sockets = _threads(pid), _sockets(pid)
        assert threads <= threads_idle + PUSH_LIMITS.threads, threads
        # The cap, plus the listening socket, the wake-up pipe's pair and Redis connections.
        assert sockets <= PUSH_LIMITS.connection_limit + 16, sockets
        evicted = sum(_closed_by_server(s) for s in slow)
        assert evicted >= SLOW_CLIENTS - PUSH_LIMITS.connection_limit

        wait_until(lambda: trickle_cut_after, timeout=120, what="the trickling client to be cut")
        assert trickle_cut_after[0] >= PUSH_LIMITS.header_seconds
    finally:
        stop_trickling.set()
        trickling.join(5)
        for sock in [*slow, trickler]:
            sock.close()
        rt.close()
    assert TOKEN not in receiver.output()
