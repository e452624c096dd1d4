"""The asyncio producer API under a burst: 1,000 concurrent calls on one event loop.

    .venv/bin/python bench/aio.py [--quick] [--n 1000] [--rounds 2] [--json FILE]

Starts a private Redis (or BENCH_REDIS_URL), the sandbox gateway at 0 ms latency and one
``celery -A worker worker`` process as the Procfile runs it. Then, on one event loop, each way of
calling the producer API gets a burst of N ``request_code`` calls at once and, once the worker
has sent every code, a burst of N ``verify_code`` calls with the codes read from the sandbox
outbox:

- aio:         ``await worker.aio.request_code(...)`` / ``verify_code``, all N gathered;
- threads-N:   the thread API (``worker.request_code``), each call pushed into a thread with
               ``loop.run_in_executor`` as an asyncio app does without ``worker.aio``, in a pool
               of N threads: the same concurrency;
- threads-40:  the same in 40 threads, the pool anyio (FastAPI, Starlette) runs sync code in.

Figures per burst: each call's p50/p99 in ms, from the moment it was made to its answer (waiting
for a thread or a Redis connection included); calls/s; this process's CPU per call and the
cores it got. The loop: a ticker task sleeps 10 ms in a loop and records how late it wakes (the
loop's lag; once on the idle loop too, for the machine's floor), and every step of every call
(one resume, up to its next wait) is timed, so a call that blocked the loop would show as one
long step; steps during which Python's garbage collector ran are kept apart. A call that raised
is counted by its exception's name. Every way is warmed first with a burst that opens its pool's
connections; with ``--rounds`` above 1 the ways run in a rotated order each round and the
medians are reported. Before that, the full run also times aio's very first burst on a fresh
runtime, when no connection is open yet ("aio, cold").

``--quick`` (100 calls, one round, no cold burst, no 40-thread pool) is the smoke run in
scripts/test. Exit status: 0 when every call on a warm pool answered as expected, 1 otherwise
(one line on stderr); every child process is stopped either way.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import os
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

_BENCH = Path(__file__).resolve().parent
for _path in (_BENCH, _BENCH.parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from harness import (  # noqa: E402
    LIMIT,
    BenchError,
    Phones,
    Sandbox,
    WaitTimeout,
    bench_redis,
    bench_settings,
    calibration_ms,
    child_env,
    client_ip,
    fresh_log,
    machine,
    percentile,
    procfile_worker,
    record_fields,
    start_sandbox,
    tail,
)

import worker  # noqa: E402
from worker import aio  # noqa: E402
from worker.api.results import CodeRequest, VerifyResult  # noqa: E402
from worker.dev.devstack import Stack  # noqa: E402
from worker.runtime import AsyncRuntime, Runtime, set_runtime  # noqa: E402
from worker.settings import Settings  # noqa: E402

T = TypeVar("T")
TICK_S = 0.010
ANYIO_THREADS = 40  # anyio's default thread limiter: where FastAPI runs sync endpoints


@dataclasses.dataclass(frozen=True)
class Plan:
    n: int
    rounds: int
    warm: int  # calls each way before measuring: enough to open every pooled connection
    anyio_pool: bool = True  # also the thread API in anyio's 40 threads
    cold: bool = True  # also aio's first burst on a fresh runtime (no connection open)


QUICK = Plan(n=100, rounds=1, warm=100, anyio_pool=False, cold=False)
FULL = Plan(n=1000, rounds=2, warm=150)


class Ticker:
    """Sleeps ``TICK_S`` in a loop on the event loop and records how late each wake-up is: a
    call that blocks the loop shows as lag as long as it blocks."""

    def __init__(self) -> None:
        self.lags_ms: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(TICK_S)
            self.lags_ms.append((time.perf_counter() - started - TICK_S) * 1000)

    def __enter__(self) -> Ticker:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()

    def figures(self) -> dict[str, float]:
        lags = self.lags_ms
        return {
            "ticks": len(lags),
            "p50_ms": round(percentile(lags, 50), 2),
            "p99_ms": round(percentile(lags, 99), 2),
            "max_ms": round(max(lags), 2) if lags else float("nan"),
        }


class GcWatch:
    """Python's garbage collections meanwhile: a full one pauses every thread, the loop's too,
    and is no call's doing."""

    def __init__(self) -> None:
        self.count = 0
        self.pauses_ms: list[float] = []
        self._began = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.count += 1
            self.pauses_ms.append((time.perf_counter() - self._began) * 1000)

    def __enter__(self) -> GcWatch:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)


@dataclasses.dataclass
class StepLog:
    """How long each step of a call held the loop, wall and this thread's CPU; steps during
    which a garbage collection ran are kept apart."""

    gc: GcWatch
    wall_ms: list[float] = dataclasses.field(default_factory=list)
    cpu_ms: list[float] = dataclasses.field(default_factory=list)
    with_gc_ms: list[float] = dataclasses.field(default_factory=list)

    def figures(self) -> dict[str, float]:
        nan = float("nan")
        return {
            "count": len(self.wall_ms) + len(self.with_gc_ms),
            "loop_cpu_ms": round(sum(self.cpu_ms), 1),
            "p99_ms": round(percentile(self.wall_ms, 99), 2),
            "max_ms": round(max(self.wall_ms, default=nan), 2),
            "max_cpu_ms": round(max(self.cpu_ms, default=nan), 2),
            "max_with_gc_ms": round(max(self.with_gc_ms, default=nan), 2),
            "gc_max_pause_ms": round(max(self.gc.pauses_ms, default=nan), 2),
        }


class Steps(Coroutine[Any, Any, T]):
    """A coroutine whose every step (one resume by the loop, up to its next wait) is timed: a
    call that blocked the loop would show as one long step. Wall minus this thread's CPU is
    time the step waited: for a blocking call, or for the GIL held by another thread."""

    def __init__(self, inner: Coroutine[Any, Any, T], log: StepLog) -> None:
        self._inner, self._log = inner, log

    def _timed(self, resume: Callable[[], Any]) -> Any:
        collections = self._log.gc.count
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return resume()
        finally:
            cpu_ms = (time.thread_time() - cpu) * 1000
            wall_ms = (time.perf_counter() - wall) * 1000
            if self._log.gc.count != collections:
                self._log.with_gc_ms.append(wall_ms)
            else:
                self._log.wall_ms.append(wall_ms)
                self._log.cpu_ms.append(cpu_ms)

    def send(self, value: Any) -> Any:
        return self._timed(lambda: self._inner.send(value))

    def throw(self, *exc: Any) -> Any:
        return self._timed(lambda: self._inner.throw(*exc))

    def close(self) -> None:
        self._inner.close()

    def __await__(self) -> Generator[Any, None, T]:
        return self._inner.__await__()


@dataclasses.dataclass
class Burst:
    """N calls started at once on the loop: their latencies, the loop's lag meanwhile, how
    long each step of a call held the loop, and this process's CPU."""

    answers: list[Any]  # each call's result, or the exception it raised
    latencies_ms: list[float]
    wall_s: float
    cpu_s: float  # this process, every thread
    lag: dict[str, float]
    steps: dict[str, float]

    def errors(self) -> dict[str, int]:
        return dict(Counter(type(a).__name__ for a in self.answers if isinstance(a, Exception)))

    def figures(self) -> dict[str, Any]:
        n = len(self.latencies_ms)
        return {
            "calls": n,
            "calls_per_s": round(n / self.wall_s, 1) if self.wall_s > 0 else float("nan"),
            "p50_ms": round(percentile(self.latencies_ms, 50), 2),
            "p99_ms": round(percentile(self.latencies_ms, 99), 2),
            "errors": self.errors(),
            # On a shared machine the scheduler shares the CPUs by thread: one loop thread gets
            # less than a thousand threads. CPU per call does not depend on that share.
            "cpu_ms_per_call": round(self.cpu_s / max(n, 1) * 1000, 2),
            "cores": round(self.cpu_s / self.wall_s, 2) if self.wall_s > 0 else float("nan"),
            "lag": self.lag,
            "steps": self.steps,
        }


async def burst(calls: Sequence[Callable[[], Awaitable[T]]]) -> Burst:
    """Start every call at once (one task each) with the ticker running; wait for all."""
    latencies: list[float] = [0.0] * len(calls)

    async def timed(i: int) -> T:
        began = time.perf_counter()
        try:
            return await calls[i]()
        finally:
            latencies[i] = (time.perf_counter() - began) * 1000

    with Ticker() as ticker, GcWatch() as collections:
        log = StepLog(collections)
        await asyncio.sleep(TICK_S * 3)  # a few idle ticks first: the ticker is running
        began, cpu = time.perf_counter(), time.process_time()
        answers = await asyncio.gather(
            *(Steps(timed(i), log) for i in range(len(calls))), return_exceptions=True
        )
        wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    return Burst(list(answers), latencies, wall, cpu, ticker.figures(), log.figures())


# --- the ways to call the API ---------------------------------------------------------------------


class Way:
    """One way an asyncio app calls the producer API."""

    name: str

    async def request_code(self, phone: str, ip: str) -> CodeRequest:
        raise NotImplementedError

    async def verify_code(self, verification_id: str, code: str, ip: str) -> VerifyResult:
        raise NotImplementedError


class Aio(Way):
    def __init__(self, rt: AsyncRuntime) -> None:
        self.name = "aio"
        self.rt = rt

    async def request_code(self, phone: str, ip: str) -> CodeRequest:
        return await aio.request_code(phone, client_ip=ip, runtime=self.rt)

    async def verify_code(self, verification_id: str, code: str, ip: str) -> VerifyResult:
        return await aio.verify_code(verification_id, code, client_ip=ip, runtime=self.rt)


class Threads(Way):
    """The thread API, each call in ``loop.run_in_executor`` on a pool of ``threads``."""

    def __init__(self, rt: Runtime, threads: int, label: str) -> None:
        self.name = label
        self.rt = rt
        self.threads = threads
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix=label)

    async def start(self) -> None:
        """Every thread started before measuring: a burst must not time thread creation."""
        barrier = threading.Barrier(self.threads + 1)
        loop = asyncio.get_running_loop()
        waits = [loop.run_in_executor(self.pool, barrier.wait, 30) for _ in range(self.threads)]
        await asyncio.to_thread(barrier.wait, 30)
        await asyncio.gather(*waits)

    async def request_code(self, phone: str, ip: str) -> CodeRequest:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.pool, lambda: worker.request_code(phone, client_ip=ip, runtime=self.rt)
        )

    async def verify_code(self, verification_id: str, code: str, ip: str) -> VerifyResult:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.pool,
            lambda: worker.verify_code(verification_id, code, client_ip=ip, runtime=self.rt),
        )

    def close(self) -> None:
        self.pool.shutdown(wait=True)


# --- one round ------------------------------------------------------------------------------


async def wait_sent(settings: Settings, ids: Sequence[str], timeout: float) -> None:
    """Until the worker has sent every verification (none queued or sending, none failed)."""
    deadline = time.monotonic() + timeout
    while True:
        states = await asyncio.to_thread(record_fields, settings, ids, "state")
        pending = sum(state in ("queued", "sending") for state in states)
        if not pending:
            bad = [s for s in states if s not in ("sent", "delivered")]
            if bad:
                raise BenchError(f"{len(bad)} verifications ended {sorted(set(map(str, bad)))}")
            return
        if time.monotonic() > deadline:
            raise BenchError(f"the worker had not sent {pending} of {len(ids)} in {timeout:g} s")
        await asyncio.sleep(0.1)


async def codes_of(sandbox: Sandbox, phones: Sequence[str]) -> list[str]:
    """Each phone's code as the sandbox outbox shows it: as the person would read it."""

    def read() -> dict[str, str]:
        response = sandbox.http.get(f"{sandbox.url}/sandbox/outbox", timeout=30)
        response.raise_for_status()
        return {m["phone"]: str(m["code"]) for m in response.json()["messages"]}

    outbox = await asyncio.to_thread(read)
    missing = [p for p in phones if p not in outbox]
    if missing:
        raise BenchError(f"{len(missing)} of {len(phones)} codes are not in the sandbox outbox")
    return [outbox[p] for p in phones]


async def measure(
    way: Way, settings: Settings, sandbox: Sandbox, phones: Sequence[str], first_ip: int
) -> dict[str, Any]:
    """A request burst, then (every code sent) a verify burst with the right codes. A call
    that raised is counted by its exception; one that answered wrongly stops the benchmark."""
    ips = [client_ip(first_ip + i) for i in range(len(phones))]
    requests = await burst(
        [lambda i=i: way.request_code(phones[i], ips[i]) for i in range(len(phones))]  # type: ignore[misc]
    )
    made = [(i, a) for i, a in enumerate(requests.answers) if not isinstance(a, Exception)]
    if not all(a.created and a.state == "queued" for _, a in made):
        raise BenchError(f"{way.name}: request_code answered something other than queued")
    ids = [a.id for _, a in made]
    await wait_sent(settings, ids, timeout=60 + len(ids) / 20)
    codes = await codes_of(sandbox, [phones[i] for i, _ in made])
    verifies = await burst(
        [
            lambda k=k, i=i: way.verify_code(ids[k], codes[k], ips[i])
            for k, (i, _) in enumerate(made)
        ]  # type: ignore[misc]
    )
    for (i, _), answer in zip(made, verifies.answers, strict=True):
        if not isinstance(answer, Exception) and (not answer.ok or answer.phone != phones[i]):
            raise BenchError(f"{way.name}: verify_code with the right code: {answer.reason}")
    return {"request_code": requests.figures(), "verify_code": verifies.figures()}


async def warm(
    ways: Sequence[Way], settings: Settings, sandbox: Sandbox, phones: Phones, calls: int
) -> None:
    """A burst each way first: pools' connections opened, Lua scripts loaded, the worker up."""
    for k, way in enumerate(ways):
        warmed = await measure(way, settings, sandbox, phones.take(calls), 60000 + 1000 * k)
        if any(warmed[call]["errors"] for call in warmed):
            raise BenchError(f"{way.name}: calls failed while warming up: {warmed}")


async def cold_pool(base: Runtime, settings: Settings, phones: Sequence[str]) -> dict[str, Any]:
    """N ``request_code`` at once on a fresh ``AsyncRuntime``: no connection open yet, as in
    the first burst a freshly started app meets. Waits until the worker has sent them."""
    rt = AsyncRuntime.from_runtime(base)
    way = Aio(rt)
    try:
        ips = [client_ip(50000 + i) for i in range(len(phones))]
        requests = await burst(
            [lambda i=i: way.request_code(phones[i], ips[i]) for i in range(len(phones))]  # type: ignore[misc]
        )
    finally:
        await rt.aclose()
    ids = [a.id for a in requests.answers if not isinstance(a, Exception)]
    await wait_sent(settings, ids, timeout=60 + len(ids) / 20)
    return requests.figures()


async def run_rounds(plan: Plan, settings: Settings, sandbox: Sandbox) -> dict[str, Any]:
    base = Runtime.from_settings(settings)
    set_runtime(base)  # the Celery producer in this process reads its config from here
    art = AsyncRuntime.from_runtime(base)
    threads_n = Threads(base, plan.n, f"threads-{plan.n}")
    threads: list[Threads] = [threads_n]
    if plan.anyio_pool:
        threads.append(Threads(base, ANYIO_THREADS, f"threads-{ANYIO_THREADS}"))
    ways: list[Way] = [Aio(art), *threads]
    phones = Phones()
    out: dict[str, Any] = {"ways": [w.name for w in ways]}
    try:
        for pool in threads:
            await pool.start()
        if plan.cold:
            _step(f"aio on a cold pool: {plan.n} request_code calls, the worker starting")
            out["cold_pool"] = await cold_pool(base, settings, phones.take(plan.n))
        _step(f"warming up: {plan.warm} + {plan.warm} calls each way")
        await warm(ways, settings, sandbox, phones, plan.warm)
        with Ticker() as idle:
            await asyncio.sleep(1.0)
        out["idle_lag"] = idle.figures()
        rounds: list[dict[str, Any]] = []
        for r in range(plan.rounds):
            order = ways[r % len(ways) :] + ways[: r % len(ways)]
            done: dict[str, Any] = {}
            for k, way in enumerate(order):
                _step(f"round {r + 1} of {plan.rounds}: {way.name}, {plan.n} + {plan.n} calls")
                first_ip = (r * len(ways) + k) * plan.n
                done[way.name] = await measure(
                    way, settings, sandbox, phones.take(plan.n), first_ip
                )
            rounds.append(done)
        out["rounds"] = rounds
        return out
    finally:
        for pool in threads:
            pool.close()
        await art.aclose()
        base.close()
        set_runtime(None)


# --- summary and output -------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 2)


def summarize(measured: dict[str, Any]) -> dict[str, Any]:
    """Medians over rounds of each way's figures (errors summed), and threads / aio ratios."""
    rounds = measured["rounds"]
    out: dict[str, Any] = {}
    for way in measured["ways"]:
        out[way] = {}
        for call in ("request_code", "verify_code"):
            runs = [r[way][call] for r in rounds]
            figures: dict[str, Any] = {
                key: _median([run[key] for run in runs])
                for key in ("calls_per_s", "p50_ms", "p99_ms", "cpu_ms_per_call", "cores")
            }
            errors: Counter[str] = Counter()
            for run in runs:
                errors.update(run["errors"])
            figures["errors"] = dict(errors)
            for part in ("lag", "steps"):
                figures[part] = {
                    key: _median([run[part][key] for run in runs]) for key in runs[0][part]
                }
            out[way][call] = figures
    for way in measured["ways"][1:]:
        for call in ("request_code", "verify_code"):
            ours, theirs = out["aio"][call], out[way][call]
            theirs["p99_vs_aio"] = round(theirs["p99_ms"] / max(ours["p99_ms"], 1e-9), 2)
            theirs["cpu_vs_aio"] = round(
                theirs["cpu_ms_per_call"] / max(ours["cpu_ms_per_call"], 1e-9), 2
            )
    return out


def print_table(report: dict[str, Any]) -> None:
    head = (
        f"{'way':<13}{'call':<14}{'calls/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'CPU ms':>8}"
        f"{'cores':>6}{'lag p50':>9}{'p99':>7}{'max':>7}{'step max':>10}{'CPU':>6}{'err':>6}"
    )
    print(head)
    print("-" * len(head))
    for way, calls in report["summary"].items():
        for call, f in calls.items():
            lag, steps = f["lag"], f["steps"]
            print(
                f"{way:<13}{call:<14}{f['calls_per_s']:>8,.0f}{f['p50_ms']:>8.0f}"
                f"{f['p99_ms']:>8.0f}{f['cpu_ms_per_call']:>8.2f}{f['cores']:>6.2f}"
                f"{lag['p50_ms']:>9.1f}{lag['p99_ms']:>7.0f}{lag['max_ms']:>7.0f}"
                f"{steps['max_ms']:>10.1f}{steps['max_cpu_ms']:>6.1f}"
                f"{sum(f['errors'].values()):>6}"
            )
    cold = report.get("cold_pool")
    if cold:
        print(
            f"{'aio, cold':<13}{'request_code':<14}{cold['calls_per_s']:>8,.0f}"
            f"{cold['p50_ms']:>8.0f}{cold['p99_ms']:>8.0f}{cold['cpu_ms_per_call']:>8.2f}"
            f"{cold['cores']:>6.2f}{cold['lag']['p50_ms']:>9.1f}{cold['lag']['p99_ms']:>7.0f}"
            f"{cold['lag']['max_ms']:>7.0f}{cold['steps']['max_ms']:>10.1f}"
            f"{cold['steps']['max_cpu_ms']:>6.1f}{sum(cold['errors'].values()):>6}"
        )
    idle = report["idle_lag"]
    print(
        f"{report['n']} concurrent calls per burst, median of {report['rounds_run']} round(s)."
        f" CPU ms: this process's CPU per call; cores: CPU / wall. lag: how late a"
        f" {TICK_S * 1000:g} ms sleep woke (ms). step max: the longest one call held the loop"
        f" (ms, wall and CPU), steps during a garbage collection aside. Idle loop lag:"
        f" p50 {idle['p50_ms']} p99 {idle['p99_ms']} max {idle['max_ms']}"
    )
    for way, calls in report["summary"].items():
        for call, f in calls.items():
            if f["errors"]:
                print(f"errors, {way} {call}: {f['errors']}")
    if cold and cold["errors"]:
        print(
            f"errors, aio request_code on a cold pool (the first burst of a fresh runtime, no"
            f" connection open): {cold['errors']}"
        )
    before, after = report["load_average"]
    print(
        f"load average (1 min) {before} at the start, {after} at the end; calibration"
        f" {report['calibration_ms'][0]} / {report['calibration_ms'][1]} ms (lower is faster)"
    )


_T0 = time.monotonic()


def _step(text: str) -> None:
    print(f"  {time.monotonic() - _T0:5.0f} s  {text}", file=sys.stderr, flush=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="100 calls, one round (the smoke run)")
    parser.add_argument("--n", type=int, help="concurrent calls per burst (default 1000)")
    parser.add_argument("--rounds", type=int, help="rounds of every way (default 2)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures here")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    plan = dataclasses.replace(plan, n=args.n or plan.n, rounds=args.rounds or plan.rounds)
    if plan.n < 1 or plan.rounds < 1:
        parser.error("--n and --rounds must be at least 1")
    signal.signal(signal.SIGTERM, _interrupt)

    logs = Path(tempfile.mkdtemp(prefix="targetsms-bench-aio-"))
    stack = Stack()
    status, message = 1, ""
    try:
        started = time.monotonic()
        load_before = round(os.getloadavg()[0], 2)
        redis_url = bench_redis(stack)
        sandbox = start_sandbox(stack, logs, 0.0)
        settings = bench_settings(
            redis_url,
            sandbox,
            OTP_VERIFY_MAX_PER_IP_PER_HOUR=LIMIT,
            OTP_VERIFY_MAX_PER_PHONE_PER_HOUR=LIMIT,
            OTP_PUMPING_MIN_SENDS=LIMIT,
        )
        command = procfile_worker()
        log = fresh_log(logs / "worker.log")
        argv_ = command.argv(f"bench-aio-{secrets.token_hex(3)}@%h")
        proc = stack.spawn("worker", argv_, child_env(settings.to_env()), log)
        _step(f"worker: {command.describe()} [{command.source}]")
        speed_before = calibration_ms()  # while the worker starts
        try:
            measured = asyncio.run(run_rounds(plan, settings, sandbox))
        finally:
            if proc.poll() is not None:
                message = f" (the worker exited: {tail(log)})"
        report = {
            "mode": "quick" if args.quick else "full",
            "n": plan.n,
            "rounds_run": plan.rounds,
            "elapsed_s": round(time.monotonic() - started, 1),
            "worker_command": command.describe(),
            "machine": machine(),
            "load_average": [load_before, round(os.getloadavg()[0], 2)],
            "calibration_ms": [speed_before, calibration_ms()],
            "idle_lag": measured["idle_lag"],
            "cold_pool": measured.get("cold_pool"),
            "summary": summarize(measured),
            "rounds": measured["rounds"],
        }
        print_table(report)
        if args.json:
            args.json.write_text(json.dumps(report, indent=2) + "\n")
        failed = sum(
            sum(f["errors"].values())
            for calls in report["summary"].values()
            for f in calls.values()
        )
        status = 1 if failed else 0
        message = f"\ndone in {report['elapsed_s']:.0f} s" + (
            f"; {failed} calls on a warm pool raised (see errors above)" if failed else ""
        )
    except KeyboardInterrupt:
        status, message = 130, f"bench: interrupted; stopped what it started (logs in {logs})"
    except (BenchError, WaitTimeout) as exc:
        message = f"bench: error: {exc}{message} (logs in {logs})"
    except Exception as exc:
        if os.environ.get("BENCH_DEBUG"):
            raise
        message = f"bench: error: {type(exc).__name__}: {exc}{message} (logs in {logs})"
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the cleanup finish
        stack.close()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if status == 0:
            shutil.rmtree(logs, ignore_errors=True)
    print(message, file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
