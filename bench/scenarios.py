"""The benchmark's scenarios: the bare loop, naive Celery, our pipeline, the producer API.

Each throughput scenario sends ``n`` SMS to a sandbox gateway and measures, from the sandbox's
own arrival times, how many per second reached it in the middle 80% of the run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import itertools
import os
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any, Generic, TypeVar

from harness import (
    LOGIN,
    PASSWORD,
    SENDER,
    SERVICE,
    BenchError,
    CpuMeter,
    Phones,
    Sandbox,
    WaitTimeout,
    WorkerCommand,
    bench_settings,
    child_env,
    client_ip,
    fresh_log,
    percentile,
    polling_count,
    queued_sends,
    record_fields,
    rss_mb,
    stop_process,
    sustained_rate,
    tail,
    wait_until,
)

from worker import CodeRequest, VerifyResult, get_status, request_code, verify_code
from worker.core.delivery import FINAL_STATUSES
from worker.dev.devstack import Stack
from worker.errors import GatewayError
from worker.providers.targetsms import HTTPResponse, RequestsTransport, TargetSMSClient, Timeout
from worker.runtime import Runtime, set_runtime
from worker.settings import Settings, default_text
from worker.steps.sending import send_verification

TEXT = default_text(SERVICE)
T = TypeVar("T")


@dataclasses.dataclass
class Context:
    """What every scenario shares: the process stack, Redis, phones, where logs go."""

    stack: Stack
    logs: Path
    redis_url: str
    redis_pid: int | None
    phones: Phones
    worker: WorkerCommand
    naive_queue: str = dataclasses.field(default_factory=lambda: f"naive{secrets.token_hex(3)}")

    def cpu_groups(self, sandbox: Sandbox, **more: list[int]) -> dict[str, list[int]]:
        groups = {**more, "sandbox": [sandbox.proc.pid], "bench": [os.getpid()]}
        if self.redis_pid is not None:
            groups["redis"] = [self.redis_pid]
        return groups


@dataclasses.dataclass
class Result:
    """One throughput scenario; ``None`` where a figure does not apply."""

    scenario: str  # bare, naive, ours
    latency_ms: float
    processes: int
    concurrency: int  # per process
    sends: int
    sends_per_s: float
    cpu_per_1000: dict[str, float]  # CPU seconds per 1000 sends, by process group
    errors: int = 0
    state_per_message: float | None = None
    rss_mb: float | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.scenario} {self.latency_ms:g}ms {self.processes}x{self.concurrency}"

    @property
    def key(self) -> str:
        return f"{self.scenario}_{self.latency_ms:g}ms_{self.processes}x{self.concurrency}"

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, **dataclasses.asdict(self)}


def _per_1000(meter: CpuMeter, sends: int) -> dict[str, float]:
    return {name: round(used / max(sends, 1) * 1000, 3) for name, used in meter.used.items()}


def track_sends(
    sandbox: Sandbox,
    n: int,
    meter: CpuMeter,
    timeout: float,
    alive: Sequence[subprocess.Popen[bytes]] = (),
    what: str = "sends",
) -> int:
    """Wait until ``n`` sends reached the sandbox; meter CPU from the 10% to the 90% mark.

    Returns how many sends happened while metering (the divisor for CPU per send).
    """
    low, high = max(1, n // 10), max(1, n - n // 10)
    marks: list[int] = []
    deadline = time.monotonic() + timeout
    while True:
        count = sandbox.sends()
        if not marks and count >= low:
            meter.start()
            marks.append(count)
        if len(marks) == 1 and count >= high:
            meter.stop()
            marks.append(count)
        if count >= n:
            break
        for proc in alive:
            if proc.poll() is not None:
                raise BenchError(f"{what}: process {proc.pid} exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise BenchError(
                f"{what}: only {count} of {n} SMS reached the gateway in {timeout:.0f} s"
            )
        time.sleep(0.05)
    return marks[1] - marks[0]


# --- 1. the bare loop -----------------------------------------------------------------------------


def run_bare(ctx: Context, sandbox: Sandbox, n: int, threads: int) -> Result:
    """Threads calling ``TargetSMSClient.send_code`` back to back: no queue, no Redis."""
    sandbox.reset()
    phones = ctx.phones.take(n)
    next_index = itertools.count()
    failures: list[str] = []

    def loop() -> None:
        client = TargetSMSClient(
            login=LOGIN,
            password=PASSWORD,
            sender=SENDER,
            service_name=SERVICE,
            send_url=sandbox.send_url,
            state_url=sandbox.state_url,
            transport=RequestsTransport(pool_size=1),  # one keep-alive Session per thread
        )
        try:
            while (i := next(next_index)) < n:
                try:
                    client.send_code(phones[i], text=TEXT, code_length=6)
                except GatewayError as exc:
                    failures.append(exc.code)
        finally:
            client.close()

    meter = CpuMeter(ctx.cpu_groups(sandbox))
    pool = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
    meter.start()
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    deadline = time.monotonic() + 30 + n / 50
    for thread in pool:
        thread.join(max(0.1, deadline - time.monotonic()))
        if thread.is_alive():
            raise BenchError(f"bare loop at {sandbox.latency_ms:g} ms did not finish")
    wall = time.perf_counter() - started
    meter.stop()
    arrivals = sandbox.arrivals()
    return Result(
        scenario="bare",
        latency_ms=sandbox.latency_ms,
        processes=1,
        concurrency=threads,
        sends=n,
        sends_per_s=sustained_rate(arrivals[p] for p in phones if p in arrivals),
        cpu_per_1000=_per_1000(meter, n),
        errors=len(failures),
        extra={
            "wall_s": round(wall, 2),
            "wall_sends_per_s": round(n / wall, 1),
            "cpu_cores": meter.shares(),
        },
    )


# --- 2. naive Celery ------------------------------------------------------------------------------


def _naive_module(ctx: Context) -> ModuleType:
    """``naive_app`` imported in this process (to publish), configured like its worker."""
    if "naive_app" not in sys.modules:
        os.environ.update(_naive_env(ctx, gateway_url="http://127.0.0.1:9"))
    return importlib.import_module("naive_app")


def _naive_env(ctx: Context, gateway_url: str) -> dict[str, str]:
    return {
        "NAIVE_BROKER_URL": ctx.redis_url,
        "NAIVE_GATEWAY_URL": gateway_url,
        "NAIVE_QUEUE": ctx.naive_queue,
        "NAIVE_LOGIN": LOGIN,
        "NAIVE_PASSWORD": PASSWORD,
    }


def run_naive(ctx: Context, sandbox: Sandbox, n: int) -> Result:
    """``celery -A naive_app worker`` (prefork, default concurrency) draining ``n`` sends."""
    sandbox.reset()
    naive = _naive_module(ctx)
    phones = ctx.phones.take(n)
    for phone in phones:
        naive.send_code.delay(phone)
    log = fresh_log(ctx.logs / f"naive-{sandbox.latency_ms:g}ms.log")
    argv = [
        sys.executable, "-m", "celery", "-A", "naive_app", "worker", "--loglevel", "WARNING",
        "--hostname", f"naive-{secrets.token_hex(3)}@%h",
    ]  # fmt: skip
    proc = ctx.stack.spawn("naive-worker", argv, child_env(_naive_env(ctx, sandbox.url)), log)
    try:
        meter = CpuMeter(ctx.cpu_groups(sandbox, worker=[proc.pid]))
        what = f"naive Celery at {sandbox.latency_ms:g} ms"
        try:
            metered = track_sends(sandbox, n, meter, 60 + n, [proc], what)
            wait_until(
                lambda: sandbox.stats()["state"] >= n,
                30 + n / 2,
                f"{what}: state requests",
                interval=0.1,
            )
        except (BenchError, WaitTimeout) as exc:
            raise BenchError(f"{exc} ({tail(log)})") from None
        rss = rss_mb([proc.pid])
        concurrency = len(_children(proc.pid))
    finally:
        stop_process(ctx.stack, proc)
    stats = sandbox.stats()
    arrivals = sandbox.arrivals()
    return Result(
        scenario="naive",
        latency_ms=sandbox.latency_ms,
        processes=1,
        concurrency=concurrency,
        sends=n,
        sends_per_s=sustained_rate(arrivals[p] for p in phones if p in arrivals),
        cpu_per_1000=_per_1000(meter, metered),
        state_per_message=stats["state"] / max(stats["password_generation"], 1),
        rss_mb=round(rss, 1),
        extra={"cpu_cores": meter.shares()},
    )


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


# --- 3. our pipeline ------------------------------------------------------------------------------


class Paced(Generic[T]):
    """``calls`` made from ``threads`` threads, started at once: on a fixed schedule at ``rate``
    per second (open loop: a late call does not delay the next ones) or back to back. Each
    call's wall time and this thread's CPU time during it are kept, in ms; ``wait`` joins."""

    def __init__(
        self, calls: Sequence[Callable[[], T]], threads: int, rate: float | None = None
    ) -> None:
        self.answers: list[T | None] = [None] * len(calls)
        self.wall_ms: list[float] = [0.0] * len(calls)
        self.cpu_ms: list[float] = [0.0] * len(calls)
        self.errors: list[str] = []
        self._start = time.perf_counter() + 0.05
        self._end = self._start

        def work(first: int) -> None:
            for i in range(first, len(calls), threads):
                if rate is not None:
                    time.sleep(max(0.0, self._start + i / rate - time.perf_counter()))
                cpu, began = time.thread_time(), time.perf_counter()
                try:
                    self.answers[i] = calls[i]()
                except Exception as exc:  # any failure here means the setup is broken
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                    return
                self.wall_ms[i] = (time.perf_counter() - began) * 1000
                self.cpu_ms[i] = (time.thread_time() - cpu) * 1000

        self._pool = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(threads)]
        for thread in self._pool:
            thread.start()

    def wait(self, what: str, timeout: float = 120.0) -> list[T]:
        """The answers, in call order, once every call returned (BenchError otherwise)."""
        deadline = time.monotonic() + timeout
        for thread in self._pool:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._end = time.perf_counter()
        if self.errors or any(thread.is_alive() for thread in self._pool):
            raise BenchError(f"{what} failed: {self.errors[0] if self.errors else 'timed out'}")
        return [answer for answer in self.answers if answer is not None]

    @property
    def wall_s(self) -> float:
        return self._end - self._start


def produce(
    rt: Runtime, phones: Sequence[str], threads: int, rate: float | None = None
) -> tuple[list[str], list[float], float]:
    """``request_code`` for every phone from ``threads`` producer threads.

    ``rate`` (per second) paces the calls on a fixed schedule (open loop); None sends as fast
    as the threads can. Returns the ids (in phone order), each call's duration in ms and the
    wall time in seconds.
    """
    run = requests_paced(rt, phones, threads, rate)
    ids = [answer.id for answer in run.wait("request_code")]
    return ids, run.wall_ms, run.wall_s


def requests_paced(
    rt: Runtime, phones: Sequence[str], threads: int, rate: float | None
) -> Paced[CodeRequest]:
    """``request_code`` as a web app calls it, for every phone, started (see ``Paced``)."""
    calls = [
        partial(request_code, phone, client_ip=client_ip(i), runtime=rt)
        for i, phone in enumerate(phones)
    ]
    return Paced(calls, threads, rate)


def _fields(rt: Runtime, ids: Sequence[str], field: str) -> list[str | None]:
    return record_fields(rt.settings, ids, field)


def _all_sent(rt: Runtime, ids: Sequence[str]) -> bool:
    return not any(state in ("queued", "sending") for state in _fields(rt, ids, "state"))


def _settled(rt: Runtime, ids: Sequence[str]) -> bool:
    """Nothing left to poll and every sent message has a final delivery status."""
    if polling_count(rt.settings):
        return False
    return all(status in FINAL_STATUSES for status in _fields(rt, ids, "delivery_status"))


def start_workers(
    ctx: Context, settings: Settings, count: int, tag: str
) -> list[tuple[subprocess.Popen[bytes], Path]]:
    started = []
    for i in range(count):
        log = fresh_log(ctx.logs / f"worker-{tag}-{i}.log")
        hostname = f"bench{i}-{secrets.token_hex(3)}@%h"
        argv = ctx.worker.argv(hostname)
        started.append(
            (ctx.stack.spawn(f"worker{i}", argv, child_env(settings.to_env()), log), log)
        )
    return started


def run_ours(
    ctx: Context,
    sandbox: Sandbox,
    workers: int,
    n: int,
    live_seconds: float = 0.0,
    settle: bool = True,
    web: WebLoad | None = None,
) -> Result:
    """``request_code`` -> Redis -> ``celery -A worker worker`` x ``workers`` -> sandbox.

    1. drain: ``n`` requests queued first, then the workers start; sends/s and CPU come from
       this backlog, so no producer competes with the workers for the CPU;
    2. saturated (``web``): a new backlog keeps the workers at full load
       while this process makes paced ``request_code`` and ``verify_code`` calls like a web
       app's (``under_load``); its sends/s are reported apart from the drain's;
    3. live (``live_seconds`` > 0): requests paced at half the drain rate while the workers run;
       enqueue-to-gateway latency comes from these;
    4. settle: wait until delivery polling has given every message its final status, then
       count the ``state`` requests it took.
    """
    sandbox.reset()
    settings = bench_settings(ctx.redis_url, sandbox)
    rt = Runtime.from_settings(settings)
    set_runtime(rt)  # the Celery producer in this process reads its config from here, once
    what = f"ours at {sandbox.latency_ms:g} ms with {workers} worker(s)"
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []
    extra: dict[str, Any] = {}
    try:
        phones = ctx.phones.take(n)
        ids, _, enqueue_wall = produce(rt, phones, threads=8)
        extra["enqueue_per_s"] = round(n / enqueue_wall, 1)

        procs = start_workers(ctx, settings, workers, f"{sandbox.latency_ms:g}ms-{workers}")
        pids = [proc.pid for proc, _ in procs]
        alive = [proc for proc, _ in procs]
        meter = CpuMeter(ctx.cpu_groups(sandbox, worker=pids))
        try:
            metered = track_sends(sandbox, n, meter, 60 + n / 20, alive, what)
            wait_until(lambda: _all_sent(rt, ids), 30, f"{what}: records", alive=alive)
        except (BenchError, WaitTimeout) as exc:
            raise BenchError(f"{exc} ({tail(procs[0][1])})") from None
        arrivals = sandbox.arrivals()
        rate = sustained_rate(arrivals[p] for p in phones if p in arrivals)
        all_ids = list(ids)

        if web is not None:
            loaded = under_load(
                ctx, rt, sandbox, pids, dict(zip(phones, ids, strict=True)), rate, web
            )
            wait_until(
                lambda: _all_sent(rt, loaded.ids),
                60 + len(loaded.ids) / 20,
                f"{what}: saturated sends",
                alive=alive,
            )
            all_ids += loaded.ids
            extra["under_load"] = loaded.figures

        if live_seconds > 0:
            live_rate = max(5.0, rate / 2)
            live_phones = ctx.phones.take(max(20, round(live_rate * live_seconds)))
            live_meter = CpuMeter(ctx.cpu_groups(sandbox, worker=pids))
            live_meter.start()
            live_ids, call_ms, _ = produce(rt, live_phones, threads=8, rate=live_rate)
            wait_until(lambda: _all_sent(rt, live_ids), 60, f"{what}: live sends", alive=alive)
            live_meter.stop()
            all_ids += live_ids
            extra.update(_live_latency(rt, sandbox, live_phones, live_ids, call_ms))
            extra["live_rate_per_s"] = round(live_rate, 1)
            extra["live_cpu_cores"] = live_meter.shares()

        if settle:
            wait_until(
                lambda: _settled(rt, all_ids), 90, f"{what}: delivery polling", interval=0.25
            )
        states = Counter(_fields(rt, all_ids, "state"))
        stats = sandbox.stats()
        rss = rss_mb(pids)
        extra["rss_mb_each"] = [round(rss_mb([pid]), 1) for pid in pids]
        extra["cpu_cores"] = meter.shares()
    finally:
        for proc, _ in procs:
            stop_process(ctx.stack, proc)
        # Messages a stopped worker held (countdown polls) go back to the queue: drop them, so
        # the next scenario's workers start from empty queues.
        purge_queues()
        rt.close()
    return Result(
        scenario="ours",
        latency_ms=sandbox.latency_ms,
        processes=workers,
        concurrency=ctx.worker.concurrency,
        sends=len(all_ids),
        sends_per_s=rate,
        cpu_per_1000=_per_1000(meter, metered),
        errors=sum(count for state, count in states.items() if state not in ("sent", "verified")),
        state_per_message=(
            stats["state"] / max(stats["password_generation"], 1) if settle else None
        ),
        rss_mb=round(rss, 1),
        extra=extra,
    )


@dataclasses.dataclass(frozen=True)
class WebLoad:
    """What the web app in this process does while the workers run (``under_load``): logins at
    ``requests_per_s`` (``request_code``), and for each login one ``verify_code`` with the right
    code, one login in ``WRONG_EVERY`` typing a wrong code first: 1.1 verify calls per login.
    ``backlog`` keeps the workers saturated meanwhile; 0 per second leaves that call out."""

    seconds: float
    requests_per_s: float = 100.0
    verifies_per_s: float = 110.0
    backlog: bool = True


WRONG_EVERY = 10


@dataclasses.dataclass(frozen=True)
class UnderLoad:
    ids: list[str]  # every verification the phase created: its backlog and the paced requests
    figures: dict[str, Any]


def typo(code: str) -> str:
    """A wrong code of the same length: the last digit off by one."""
    return code[:-1] + str((int(code[-1]) + 1) % 10)


def verify_calls(pairs: Sequence[tuple[str, str]], n: int) -> list[tuple[str, str, bool]]:
    """``n`` (id, typed code, is it the right one) as users type them, for verifications sent."""
    calls: list[tuple[str, str, bool]] = []
    for i, (verification_id, code) in enumerate(pairs):
        if i % WRONG_EVERY == WRONG_EVERY - 1:
            calls.append((verification_id, typo(code), False))
        calls.append((verification_id, code, True))
    return calls[:n]


def _latency(run: Paced[Any], name: str) -> dict[str, float]:
    return {
        f"{name}_calls": len(run.wall_ms),
        f"{name}_p50_ms": round(percentile(run.wall_ms, 50), 3),
        f"{name}_p99_ms": round(percentile(run.wall_ms, 99), 3),
        f"{name}_cpu_p50_ms": round(percentile(run.cpu_ms, 50), 3),
        f"{name}_cpu_p99_ms": round(percentile(run.cpu_ms, 99), 3),
    }


def under_load(
    ctx: Context,
    rt: Runtime,
    sandbox: Sandbox,
    pids: Sequence[int],
    sent: Mapping[str, str],
    drain_rate: float,
    load: WebLoad,
) -> UnderLoad:
    """``request_code`` and ``verify_code`` latency while the workers drain a backlog.

    A backlog that outlasts the window is queued first. Then, for ``load.seconds``, this
    process calls ``request_code`` (8 threads, as in the live phase) and ``verify_code`` (one
    more thread) on fixed schedules, through the public API. It verifies the codes the sandbox
    received for the drain's verifications (``sent``: phone -> id), newest first, with the IP
    that asked for each. The worker's sends/s measured here include this load on the shared
    cores, so they are reported apart from the drain's. Each call's thread CPU time is kept
    beside its wall time: what the call computed, and how long it waited (GIL, a core, Redis).
    """
    codes = sandbox.codes()
    ips = {vid: client_ip(i) for i, vid in enumerate(sent.values())}
    newest_first = [(vid, codes[phone]) for phone, vid in reversed(list(sent.items()))]
    typed = verify_calls(newest_first, round(load.seconds * load.verifies_per_s))
    # Filled while the workers already drain it: until it holds 1.2x what they send in the window.
    wanted = round(max(drain_rate, 50.0) * load.seconds * 1.2) if load.backlog else 0
    backlog_ids: list[str] = []
    while queued_sends(rt.settings) < wanted:
        if len(backlog_ids) > 10 * wanted:
            raise BenchError("saturated phase: the workers drain faster than this process queues")
        backlog_ids += produce(rt, ctx.phones.take(500), threads=8)[0]
    web_phones = ctx.phones.take(round(load.seconds * load.requests_per_s))

    meter = CpuMeter(ctx.cpu_groups(sandbox, worker=list(pids)))
    sends_before = sandbox.sends()
    meter.start()
    window = [time.time()]
    verifier = Paced(
        [partial(verify_code, vid, code, client_ip=ips[vid]) for vid, code, _ in typed],
        threads=1,
        rate=load.verifies_per_s or None,
    )
    requester = requests_paced(rt, web_phones, 8, load.requests_per_s or None)
    web_ids = [answer.id for answer in requester.wait("request_code under load")]
    answers: list[VerifyResult] = verifier.wait("verify_code under load")
    meter.stop()
    window.append(time.time())
    left = queued_sends(rt.settings)
    sends = sandbox.sends() - sends_before
    loadavg = os.getloadavg()[0]
    for (_, _, right), answer in zip(typed, answers, strict=True):
        if answer.ok != right or (not right and answer.reason != "wrong"):
            raise BenchError(f"verify_code under load answered {answer.reason} to a {right=} code")
    return UnderLoad(
        ids=backlog_ids + web_ids,
        figures={
            "seconds": round(meter.wall, 2),
            "window_epoch_s": [round(t, 3) for t in window],
            "requests_per_s": load.requests_per_s,
            "verifies_per_s": load.verifies_per_s,
            **_latency(requester, "request_code"),
            **_latency(verifier, "verify_code"),
            "verify_code_wrong": sum(not right for _, _, right in typed),
            "backlog": len(backlog_ids),
            "backlog_left_at_end": left,
            "saturated_throughout": bool(left) if load.backlog else None,
            "worker_sends_per_s_with_web_load": round(sends / max(meter.wall, 1e-9), 1),
            "cpu_cores": meter.shares(),
            "loadavg_1min": round(loadavg, 2),
        },
    )


def describe_under_load(label: str, f: Mapping[str, Any]) -> str:
    """One paragraph for ``under_load``'s figures."""
    cores = ", ".join(f"{k} {v:g}" for k, v in f["cpu_cores"].items() if k != "steal")
    backlog = "no backlog"
    if f["backlog"]:
        backlog = (
            f"worker saturated (backlog of {f['backlog']}, {f['backlog_left_at_end']} still"
            " queued at the end)"
            if f["saturated_throughout"]
            else f"worker NOT saturated throughout (the backlog of {f['backlog']} ran out)"
        )
    calls = [
        f"{name} p50 {f[f'{name}_p50_ms']} ms p99 {f[f'{name}_p99_ms']} ms"
        f" (CPU p50 {f[f'{name}_cpu_p50_ms']} p99 {f[f'{name}_cpu_p99_ms']} ms;"
        f" {f[f'{name}_calls']} calls at {rate:g}/s{extra})"
        for name, rate, extra in (
            ("request_code", f["requests_per_s"], ""),
            ("verify_code", f["verifies_per_s"], f", {f['verify_code_wrong']} wrong codes"),
        )
        if f[f"{name}_calls"]
    ]
    return (
        f"{label}, {backlog} for {f['seconds']:g} s: " + "; ".join(calls) + "."
        f" The worker sent {f['worker_sends_per_s_with_web_load']:g}/s meanwhile, beside this"
        f" load; cores: {cores}; load average {f['loadavg_1min']:g}"
    )


def purge_queues() -> None:
    """Empty our two task queues (cleanup: a failure here must not hide the real error)."""
    from worker.runtime import celery_app

    with contextlib.suppress(Exception):
        celery_app().control.purge()


def _live_latency(
    rt: Runtime,
    sandbox: Sandbox,
    phones: Sequence[str],
    ids: Sequence[str],
    call_ms: Sequence[float],
) -> dict[str, float]:
    """Latencies of the paced requests: record created_at -> sent_at (both Redis time, so the
    gateway's own latency is inside), created_at -> arrival at the sandbox, and the
    ``request_code`` call itself while the workers are busy."""
    arrivals = sandbox.arrivals()
    to_sent: list[float] = []
    to_gateway: list[float] = []
    for phone, verification_id in zip(phones, ids, strict=True):
        status = get_status(verification_id, runtime=rt)
        if status.created_at is None or status.sent_at is None:
            continue
        to_sent.append(status.sent_at - status.created_at)
        if phone in arrivals:
            to_gateway.append(arrivals[phone] * 1000 - status.created_at)
    return {
        "enqueue_to_sent_p50_ms": round(percentile(to_sent, 50), 1),
        "enqueue_to_sent_p99_ms": round(percentile(to_sent, 99), 1),
        "enqueue_to_gateway_p50_ms": round(percentile(to_gateway, 50), 1),
        "enqueue_to_gateway_p99_ms": round(percentile(to_gateway, 99), 1),
        "request_code_under_load_p50_ms": round(percentile(call_ms, 50), 2),
        "request_code_under_load_p99_ms": round(percentile(call_ms, 99), 2),
    }


# --- 4. the producer API --------------------------------------------------------------------------


class CannedGateway:
    """A ``Transport`` that answers every ``password_generation`` with one code, in-process."""

    def __init__(self, code: str) -> None:
        self._code = code
        self._ids = itertools.count(1_000_000)

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: Timeout, max_bytes: int
    ) -> HTTPResponse:
        xml = (
            '<?xml version="1.0" encoding="utf-8"?>\n<response>\n'
            f'  <success code="{self._code}" id_sms="{next(self._ids)}" status="send"/>\n'
            "</response>\n"
        )
        return HTTPResponse(200, xml.encode(), "text/xml; charset=utf-8")

    def close(self) -> None:
        pass


def _timed(call: Callable[[], T]) -> tuple[T, float]:
    began = time.perf_counter()
    out = call()
    return out, (time.perf_counter() - began) * 1000


def run_api_latency(ctx: Context, sandbox: Sandbox, n: int) -> dict[str, float]:
    """``request_code`` and ``verify_code`` one call at a time against the real Redis.

    No worker runs: this process sends each code itself with the worker's own step
    (``send_verification``) through a gateway stand-in that always answers with a code we
    know, then verifies with a wrong and with the right code. The queued send messages are
    purged afterwards.
    """
    settings = bench_settings(ctx.redis_url, sandbox)
    code, wrong = "123456", "654321"
    rt = Runtime.from_settings(settings, transport=CannedGateway(code))
    set_runtime(rt)
    warmup = 100
    try:
        phones = ctx.phones.take(n + warmup)
        request_ms: list[float] = []
        ids: list[str] = []
        for i, phone in enumerate(phones):
            req, ms = _timed(partial(request_code, phone, client_ip=client_ip(i)))
            ids.append(req.id)
            if i >= warmup:
                request_ms.append(ms)

        # Stand in for the worker: the real send step, against a gateway that answers in-process.
        for verification_id in ids:
            if send_verification(rt, verification_id).result != "sent":
                raise BenchError("send_verification did not mark the verification sent")
        wrong_ms: list[float] = []
        right_ms: list[float] = []
        for i, verification_id in enumerate(ids):
            bad, ms_bad = _timed(partial(verify_code, verification_id, wrong))
            good, ms_good = _timed(partial(verify_code, verification_id, code))
            if bad.reason != "wrong" or not good.ok:
                raise BenchError(f"verify_code answered {bad.reason}/{good.reason}")
            if i >= warmup:
                wrong_ms.append(ms_bad)
                right_ms.append(ms_good)
    finally:
        purge_queues()
        rt.close()
    verify_ms = wrong_ms + right_ms
    return {
        "api_calls": n,
        "request_code_p50_ms": round(percentile(request_ms, 50), 3),
        "request_code_p99_ms": round(percentile(request_ms, 99), 3),
        "verify_code_p50_ms": round(percentile(verify_ms, 50), 3),
        "verify_code_p99_ms": round(percentile(verify_ms, 99), 3),
        "verify_wrong_p99_ms": round(percentile(wrong_ms, 99), 3),
        "verify_right_p99_ms": round(percentile(right_ms, 99), 3),
    }
