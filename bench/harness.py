"""Shared parts of the benchmark: services it starts, settings, process metrics, statistics.

Everything here runs against loopback only. Every process is started through a
``worker.dev.devstack.Stack`` and stopped by it (or earlier by ``stop_process``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import json
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import redis
import requests

from worker.dev.devstack import Stack, WaitTimeout, redis_answers, wait_until
from worker.queue.names import POLL_QUEUE, SEND_QUEUE
from worker.settings import Settings
from worker.store import connect
from worker.store.keys import Keys

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "bench"

LOGIN = "bench-login"
PASSWORD = "bench-" + "Пароль-secret"
SENDER = "target"
SERVICE = "BenchShop"
LIMIT = 10**8  # "no limit" for every rate limit the benchmark must not hit

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


class BenchError(RuntimeError):
    """Something could not start or did not finish: reported as one line, exit status 1."""


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process: this one, the repo and bench/ importable."""
    paths = [str(ROOT), str(BENCH_DIR)]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(paths),
        "PYTHONUNBUFFERED": "1",
        **(extra or {}),
    }


def fresh_log(path: Path) -> Path:
    """``path`` emptied: ``Stack.spawn`` appends, and a stale banner must not be read."""
    path.unlink(missing_ok=True)
    return path


def tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])


def stop_process(stack: Stack, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """Stop one process group started by ``stack`` (TERM, then KILL) and forget it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    stack.processes[:] = [(n, p) for n, p in stack.processes if p is not proc]


# --- Redis ------------------------------------------------------------------------------------


def bench_redis(stack: Stack) -> str:
    """BENCH_REDIS_URL when set; otherwise a private, diskless redis-server on a free port."""
    url = os.environ.get("BENCH_REDIS_URL")
    if url:
        if not redis_answers(url, timeout=2):
            raise BenchError(f"BENCH_REDIS_URL is set but no Redis answers at {url}")
        # The benchmark purges our task queues between scenarios: never someone else's tasks.
        client = redis.Redis.from_url(url, socket_timeout=5)
        try:
            queued = sum(int(client.llen(queue)) for queue in (SEND_QUEUE, POLL_QUEUE))
        finally:
            client.close()
        if queued:
            raise BenchError(
                f"BENCH_REDIS_URL: {queued} tasks wait in {SEND_QUEUE}/{POLL_QUEUE} there; the"
                " benchmark purges those queues, so give it a Redis (or db) of its own"
            )
        return url
    try:
        return stack.start_redis()
    except RuntimeError as exc:
        raise BenchError(f"cannot start a private redis-server: {exc}") from None


# --- the sandbox gateway ------------------------------------------------------------------------

_BANNER = re.compile(r"fake-gateway listening on (http://\S+)")


@functools.cache
def _redis_of(url: str) -> redis.Redis:
    return connect(url)


def record_fields(settings: Settings, ids: Sequence[str], name: str) -> list[str | None]:
    """One record field of many verifications, in one round trip: the benchmark watches
    thousands of records settle, which the product itself never needs."""
    keys = Keys(settings.redis_prefix)
    with _redis_of(settings.redis_url).pipeline(transaction=False) as pipe:
        for verification_id in ids:
            pipe.hget(keys.record(verification_id), name)
        values: list[str | None] = pipe.execute()
    return values


def queued_sends(settings: Settings) -> int:
    """Send messages waiting in the broker's queue (not yet taken by a worker)."""
    return int(_redis_of(settings.redis_url).llen(SEND_QUEUE))


def polling_count(settings: Settings) -> int:
    """Verifications whose delivery status is still followed."""
    return int(_redis_of(settings.redis_url).zcard(Keys(settings.redis_prefix).poll))


@dataclasses.dataclass
class Sandbox:
    """``python -m worker.dev.sandbox`` as a child process, and what it saw."""

    url: str
    proc: subprocess.Popen[bytes]
    latency_ms: float
    http: requests.Session = dataclasses.field(default_factory=requests.Session)

    @property
    def send_url(self) -> str:
        return f"{self.url}/password_generation/api.php"

    @property
    def state_url(self) -> str:
        return f"{self.url}/xml/state.php"

    def stats(self) -> dict[str, int]:
        response = self.http.get(f"{self.url}/sandbox/stats", timeout=10)
        response.raise_for_status()
        stats: dict[str, int] = response.json()
        return stats

    def sends(self) -> int:
        return self.stats()["password_generation"]

    def reset(self) -> None:
        self.http.post(f"{self.url}/sandbox/reset", timeout=10).raise_for_status()

    def outbox(self) -> list[dict[str, Any]]:
        """Every SMS the sandbox accepted since its last reset, oldest first."""
        response = self.http.get(f"{self.url}/sandbox/outbox", timeout=30)
        response.raise_for_status()
        messages: list[dict[str, Any]] = response.json()["messages"]
        return messages

    def arrivals(self) -> dict[str, float]:
        """Phone -> epoch seconds at which its (last) SMS request reached the sandbox."""
        return {m["phone"]: datetime.fromisoformat(m["sent_at"]).timestamp() for m in self.outbox()}

    def codes(self) -> dict[str, str]:
        """Phone -> the code of its (last) SMS: what the user would type."""
        return {m["phone"]: str(m["code"]) for m in self.outbox()}


def start_sandbox(stack: Stack, logs: Path, latency_ms: float) -> Sandbox:
    log = fresh_log(logs / f"sandbox-{latency_ms:g}ms.log")
    argv = [
        sys.executable, "-m", "worker.dev.sandbox", "--port", "0",
        "--latency-ms", f"{latency_ms:g}", "--balance", "1e12", "--deliver-after-ms", "500",
        "--max-messages", "200000",
    ]  # fmt: skip
    proc = stack.spawn(f"sandbox-{latency_ms:g}ms", argv, child_env(), log)
    found: list[str] = []

    def listening() -> bool:
        match = _BANNER.search(log.read_text(errors="replace")) if log.exists() else None
        if match:
            found.append(match.group(1))
        return bool(match)

    try:
        wait_until(listening, 20, "sandbox gateway", alive=[proc])
    except (BenchError, WaitTimeout) as exc:
        raise BenchError(f"{exc} ({tail(log)})") from None
    return Sandbox(found[0], proc, latency_ms)


# --- settings and workers -----------------------------------------------------------------------


def bench_settings(redis_url: str, sandbox: Sandbox, **overrides: Any) -> Settings:
    """Production defaults, except: a fresh key prefix, the sandbox, and limits out of the way."""
    settings = Settings().replace(
        REDIS_URL=redis_url,
        OTP_REDIS_PREFIX=f"bench{secrets.token_hex(4)}:",
        TARGETSMS_URL=sandbox.send_url,
        TARGETSMS_STATE_URL=sandbox.state_url,
        TARGETSMS_LOGIN=LOGIN,
        TARGETSMS_PASSWORD=PASSWORD,
        TARGETSMS_SENDER=SENDER,
        OTP_SERVICE_NAME=SERVICE,
        OTP_SECRET_KEY=secrets.token_urlsafe(32),
        OTP_RESEND_COOLDOWN_SECONDS=0,
        OTP_PHONE_MAX_PER_HOUR=LIMIT,
        OTP_PHONE_MAX_PER_DAY=LIMIT,
        OTP_IP_MAX_PER_HOUR=LIMIT,
        OTP_IP_MAX_PER_DAY=LIMIT,
        OTP_PREFIX_MAX_PER_HOUR=LIMIT,
        OTP_MAX_SMS_PER_HOUR=LIMIT,
        OTP_MAX_SMS_PER_DAY=LIMIT,
        **overrides,
    )
    problems = settings.problems()
    if problems:
        raise BenchError("bench settings invalid: " + "; ".join(problems))
    return settings


@dataclasses.dataclass(frozen=True)
class WorkerCommand:
    """How the Procfile runs the worker (pool, concurrency, log level) and where it came from."""

    pool: str = "threads"
    concurrency: int = 64
    loglevel: str = "WARNING"  # celery's own default when the Procfile names none
    source: str = "default (no Procfile)"

    def argv(self, hostname: str) -> list[str]:
        from worker.dev.devstack import celery_argv

        return celery_argv(
            "worker", "--pool", self.pool, "--concurrency", str(self.concurrency),
            "--loglevel", self.loglevel, "--hostname", hostname,
            # Startup only: skips the 1 s wait for other workers' replies.
            "--without-mingle",
        )  # fmt: skip

    def describe(self) -> str:
        return (
            f"celery -A worker worker --pool {self.pool} --concurrency {self.concurrency}"
            f" --loglevel {self.loglevel}"
        )


_DEFAULTED = re.compile(r"\$\{\w+:-([^}]*)\}")


def procfile_worker(path: Path = ROOT / "Procfile") -> WorkerCommand:
    """Pool, concurrency and log level of the ``celery -A ... worker`` line of the Procfile."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return WorkerCommand()
    for line in lines:
        name, _, command = line.partition(":")
        tokens = shlex.split(_DEFAULTED.sub(r"\1", command), comments=True)
        if not any(Path(t).name == "celery" for t in tokens) or not _is_worker(tokens):
            continue
        options = _options(tokens)
        concurrency = options.get("concurrency", "")
        return WorkerCommand(
            pool=options.get("pool", "prefork"),
            concurrency=int(concurrency) if concurrency.isdigit() else os.cpu_count() or 1,
            loglevel=options.get("loglevel", WorkerCommand.loglevel).upper(),
            source=f"Procfile, process type '{name.strip()}'",
        )
    return WorkerCommand(source="default (Procfile has no celery worker line)")


def _is_worker(tokens: Sequence[str]) -> bool:
    """True when the celery subcommand (the first word not an option or its value) is worker."""
    skip = False
    for token in tokens[tokens.index(next(t for t in tokens if Path(t).name == "celery")) + 1 :]:
        if skip:
            skip = False
        elif token in ("-A", "--app", "-b", "--broker", "--workdir", "--config"):
            skip = True
        elif not token.startswith("-"):
            return token == "worker"
    return False


def _options(tokens: Sequence[str]) -> dict[str, str]:
    aliases = {"-P": "pool", "-c": "concurrency", "-l": "loglevel"}
    out: dict[str, str] = {}
    for i, token in enumerate(tokens):
        key, value = token, tokens[i + 1] if i + 1 < len(tokens) else ""
        if token.startswith("--") and "=" in token:
            key, value = token.split("=", 1)
        name = aliases.get(key) or (key[2:] if key.startswith("--") else "")
        if name in ("pool", "concurrency", "loglevel"):
            out[name] = value
    return out


# --- phones ---------------------------------------------------------------------------------------


class Phones:
    """Distinct, valid Russian mobiles ``+7900NNNNNNN``, spread over many number prefixes."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def take(self, n: int) -> list[str]:
        with self._lock:
            picks = [next(self._counter) for _ in range(n)]
        # 7919 is prime to 10**7, so this is a bijection: distinct, and scattered over prefixes.
        return [f"+7900{(k * 7919) % 10_000_000:07d}" for k in picks]


def client_ip(i: int) -> str:
    """Addresses from the 198.18.0.0/15 benchmarking range."""
    return f"198.18.{(i >> 8) & 255}.{i & 255}"


# --- process metrics ----------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    # The command name may hold spaces and parentheses: split after the last ')'.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants (prefork children, etc.)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError):
                children.setdefault(int(_stat_fields(int(entry))[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def cpu_seconds(pids: Iterable[int], descendants: bool = True) -> float:
    """utime + stime of these processes (all their threads) and, by default, their children."""
    total = 0
    for root in pids:
        for pid in process_tree(root) if descendants else [root]:
            with contextlib.suppress(OSError, IndexError):
                fields = _stat_fields(pid)
                total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def rss_mb(pids: Iterable[int]) -> float:
    """Sum of VmRSS over these processes and their descendants, in MB (MiB)."""
    kb = 0
    for root in pids:
        for pid in process_tree(root):
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        kb += int(line.split()[1])
    return kb / 1024


def machine_busy_seconds() -> tuple[float, float]:
    """CPU seconds the whole machine spent busy (all CPUs), and stolen by the hypervisor."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / CLOCK_TICKS, steal / CLOCK_TICKS


@dataclasses.dataclass
class CpuMeter:
    """CPU seconds used by named groups of processes between ``start`` and ``stop``.

    A group counts its processes' descendants too, except ``bench`` (this process, whose
    descendants are every other group). ``other`` is what the rest of the machine used
    meanwhile (someone else's load skews a run), ``steal`` what the hypervisor took."""

    groups: dict[str, list[int]]
    used: dict[str, float] = dataclasses.field(default_factory=dict)
    wall: float = 0.0
    _before: dict[str, float] = dataclasses.field(default_factory=dict)
    _started: float = 0.0

    def start(self) -> None:
        self._before = self._read()
        self._started = time.monotonic()

    def stop(self) -> None:
        self.wall = time.monotonic() - self._started
        now = self._read()
        used = {name: now[name] - self._before[name] for name in now}
        busy = used.pop("_machine")
        used["other"] = max(0.0, busy - sum(used[name] for name in self.groups))
        self.used = used

    def shares(self) -> dict[str, float]:
        """Cores used by each group on average (1.0 = one core busy all the time)."""
        return {name: round(used / max(self.wall, 1e-9), 2) for name, used in self.used.items()}

    def _read(self) -> dict[str, float]:
        out = {
            name: cpu_seconds(pids, descendants=name != "bench")
            for name, pids in self.groups.items()
        }
        out["_machine"], out["steal"] = machine_busy_seconds()
        return out


# --- statistics -----------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def sustained_rate(arrivals: Iterable[float]) -> float:
    """Requests per second over the middle 80% of arrivals: no ramp-up, no tail."""
    times = sorted(arrivals)
    n = len(times)
    if n < 2:
        return float("nan")
    lo, hi = n // 10, n - 1 - n // 10
    if hi - lo < 10 or times[hi] <= times[lo]:
        lo, hi = 0, n - 1
    span = times[hi] - times[lo]
    return (hi - lo) / span if span > 0 else float("nan")


def calibration_ms() -> float:
    """CPU ms this process needs for a fixed single-threaded workload like a worker's (XML
    build and parse, HMAC, JSON). The VM's speed drifts; this tells two runs' machines apart."""
    from worker.core.codes import code_digest
    from worker.providers.targetsms.protocol import build_send_request, parse_send_response

    answer = (
        b'<?xml version="1.0" encoding="utf-8"?>\n<response>\n'
        b'  <success code="123456" id_sms="1712292706" status="send"/>\n</response>\n'
    )
    key = secrets.token_bytes(32)
    began = time.process_time()
    for i in range(3000):
        build_send_request(
            login=LOGIN,
            password=PASSWORD,
            phone="+79001234567",
            sender=SENDER,
            code_length=6,
            text=f"{SERVICE}: код {{код}}",
        )
        parse_send_response(answer)
        code_digest(key, f"id{i}", "123456")
        json.loads(json.dumps({"id": i, "args": [f"id{i}"], "kwargs": {}}))
    return round((time.process_time() - began) * 1000, 1)


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "mem_gib": round(mem_kb / 1024**2, 1),
        "python": sys.version.split()[0],
    }
