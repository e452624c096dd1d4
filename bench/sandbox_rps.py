"""Throughput and concurrency of the sandbox gateway, so it is known not to be the bottleneck.

Starts ``python -m worker.dev.sandbox`` as a subprocess pinned to one CPU, drives it from client
threads (one keep-alive ``requests.Session`` each) pinned to the other CPUs, and prints:

1. password_generation requests/s at 0 ms latency from ``requests`` clients, with the server's
   CPU use (requests is what saturates first);
2. the same from bare keep-alive sockets, which are cheap enough to saturate the server's core;
3. with ``--latency-ms 200``: how many connections the server held open at once (peak of its
   socket descriptors, sampled) and whether every request was answered.

    .venv/bin/python bench/sandbox_rps.py [--seconds 5] [--threads 8] [--slow-threads 300]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parents[1]
SEND_BODY = """<?xml version="1.0" encoding="utf-8"?>
<request>
  <security>
    <login>LOGIN</login>
    <password>PASSWORD</password>
  </security>
  <phone>+79001234567</phone>
  <sender>target</sender>
  <random_string_len>4</random_string_len>
  <text>Временный пароль: {код}</text>
</request>""".encode()
HEADERS = {"Content-Type": "text/xml; charset=utf-8"}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Tally:
    ok: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Sandbox:
    """The sandbox as a child process on ``cpu`` (when the machine has more than one)."""

    def __init__(self, cpu: int | None, *flags: str) -> None:
        flags = ("--no-duplicate-window", *flags)  # one phone, thousands of identical requests
        cmd = [
            sys.executable,
            "-m",
            "worker.dev.sandbox",
            "--port",
            "0",
            "--balance",
            "1e12",
            *flags,
        ]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        if cpu is not None:
            os.sched_setaffinity(self.proc.pid, {cpu})
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("fake-gateway listening on "):
            self.stop()
            raise SystemExit(f"sandbox did not start: {line!r}")
        self.url = line.rsplit(" ", 1)[1]

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime

    def open_sockets(self) -> int:
        count = 0
        fd_dir = Path(f"/proc/{self.proc.pid}/fd")
        for fd in os.listdir(fd_dir):
            try:
                if os.readlink(fd_dir / fd).startswith("socket:"):
                    count += 1
            except OSError:
                pass
        return count

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _post_requests(session: requests.Session, url: str) -> bool:
    try:
        response = session.post(url, data=SEND_BODY, headers=HEADERS, timeout=(5, 10))
    except requests.RequestException:
        return False
    return response.status_code == 200 and b"<success " in response.content


class RawClient:
    """A bare keep-alive HTTP/1.1 client on a socket: far cheaper than requests, so it can push
    the server itself to saturation. One request in flight per connection, no pipelining."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.request = (
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: text/xml; charset=utf-8\r\nContent-Length: {len(SEND_BODY)}\r\n\r\n"
        ).encode() + SEND_BODY

    def post(self) -> bool:
        self.sock.sendall(self.request)
        buf = b""
        while (end := buf.find(b"\r\n\r\n")) < 0:
            chunk = self.sock.recv(65536)
            if not chunk:
                return False
            buf += chunk
        length = 0
        for line in buf[:end].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        while len(buf) < end + 4 + length:
            chunk = self.sock.recv(65536)
            if not chunk:
                return False
            buf += chunk
        return buf.startswith(b"HTTP/1.1 200 ") and b"<success " in buf[end + 4 :]

    def close(self) -> None:
        self.sock.close()


def drive(url: str, threads: int, seconds: float, tally: Tally, raw: bool = False) -> float:
    """Run ``threads`` keep-alive clients for ``seconds``; returns the measured wall time."""
    barrier = threading.Barrier(threads + 1)
    deadline = [0.0]

    def client() -> None:
        ok = failed = 0
        latencies: list[float] = []
        session = requests.Session()
        rawc = RawClient(url) if raw else None
        try:
            barrier.wait()
            while (start := time.perf_counter()) < deadline[0]:
                try:
                    good = rawc.post() if rawc is not None else _post_requests(session, url)
                except OSError:
                    good = False
                latencies.append(time.perf_counter() - start)
                ok, failed = (ok + 1, failed) if good else (ok, failed + 1)
        finally:
            session.close()
            if rawc is not None:
                rawc.close()
        with tally.lock:
            tally.ok += ok
            tally.failed += failed
            tally.latencies.extend(latencies)

    workers = [threading.Thread(target=client, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    deadline[0] = time.perf_counter() + seconds
    begin = time.perf_counter()
    barrier.wait()
    for worker in workers:
        worker.join(timeout=seconds + 30)
    return time.perf_counter() - begin


def pick_cpus() -> tuple[int | None, set[int] | None]:
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cpus) < 2:
        return None, None
    return cpus[0], set(cpus[1:])


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def throughput(args: argparse.Namespace, server_cpu: int | None, raw: bool) -> None:
    sandbox = Sandbox(server_cpu)
    try:
        url = f"{sandbox.url}/password_generation/api.php"
        drive(url, args.threads, 0.5, Tally(), raw)  # warm-up: connections, caches
        cpu_before = sandbox.cpu_seconds()
        tally = Tally()
        wall = drive(url, args.threads, args.seconds, tally, raw)
        cpu = sandbox.cpu_seconds() - cpu_before
    finally:
        sandbox.stop()
    total = tally.ok + tally.failed
    kind = "raw keep-alive sockets" if raw else "keep-alive requests.Session each"
    p50, p99 = percentile(tally.latencies, 50), percentile(tally.latencies, 99)
    print(f"[0 ms latency, {kind}] {args.threads} threads x {args.seconds:g} s")
    print(f"  answered ok: {tally.ok}, failed: {tally.failed}")
    print(f"  throughput:  {total / wall:,.0f} requests/s", end="")
    print(f" (p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms)")
    print(
        f"  server CPU:  {cpu:.2f} s in {wall:.1f} s ({cpu / wall:.0%} of its core),"
        f" {cpu / max(total, 1) * 1e6:.0f} us/request"
    )


def concurrency(args: argparse.Namespace, server_cpu: int | None) -> None:
    sandbox = Sandbox(server_cpu, "--latency-ms", str(args.latency_ms))
    peak = [0]
    sampling = threading.Event()

    def sample() -> None:
        baseline = sandbox.open_sockets()  # the listening socket(s)
        while not sampling.is_set():
            peak[0] = max(peak[0], sandbox.open_sockets() - baseline)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        tally = Tally()
        wall = drive(
            f"{sandbox.url}/password_generation/api.php",
            args.slow_threads,
            args.slow_seconds,
            tally,
        )
    finally:
        sampling.set()
        sampler.join()
        sandbox.stop()
    total = tally.ok + tally.failed
    mean = statistics.fmean(tally.latencies)
    print(
        f"[{args.latency_ms:.0f} ms latency] {args.slow_threads} threads x"
        f" {args.slow_seconds:.0f} s, keep-alive sessions"
    )
    print(
        f"  answered ok: {tally.ok}, failed: {tally.failed}"
        f" ({'all answered' if tally.failed == 0 else 'SOME FAILED'})"
    )
    print(f"  peak open connections held by the server: {peak[0]}")
    print(
        f"  throughput:  {total / wall:,.0f} requests/s, mean latency {mean * 1000:.0f} ms"
        f" -> {total / wall * mean:.0f} requests in flight on average (Little's law)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of the 0 ms run")
    parser.add_argument("--threads", type=int, default=8, help="client threads for the 0 ms run")
    parser.add_argument("--slow-threads", type=int, default=300)
    parser.add_argument("--slow-seconds", type=float, default=4.0)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    args = parser.parse_args()
    if not 0 < args.seconds <= 120 or not 0 < args.slow_seconds <= 120:
        parser.error("durations must be in (0, 120] seconds")
    server_cpu, client_cpus = pick_cpus()
    if client_cpus is not None:
        os.sched_setaffinity(0, client_cpus)  # inherited by the client threads started later
        print(f"sandbox pinned to CPU {server_cpu}, clients on CPUs {sorted(client_cpus)}")
    else:
        print("one CPU only: sandbox and clients share it")
    throughput(args, server_cpu, raw=False)
    throughput(args, server_cpu, raw=True)
    concurrency(args, server_cpu)
    return 0


if __name__ == "__main__":
    sys.exit(main())
