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
from typing import Any, TypeVar

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
    record_fields,
    rss_mb,
    stop_process,
    sustained_rate,
    tail,
    wait_until,
)

from worker.api.producer import get_status, request_code, verify_code
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


def produce(
    rt: Runtime, phones: Sequence[str], threads: int, rate: float | None = None
) -> tuple[list[str], list[float], float]:
    """``request_code`` for every phone from ``threads`` producer threads.

    ``rate`` (per second) paces the calls on a fixed schedule (open loop); None sends as fast
    as the threads can. Returns the ids (in phone order), each call's duration in ms and the
    wall time in seconds.
    """
    ids: list[str] = [""] * len(phones)
    call_ms: list[float] = [0.0] * len(phones)
    errors: list[str] = []
    start = time.perf_counter() + 0.05

    def work(first: int) -> None:
        for i in range(first, len(phones), threads):
            if rate is not None:
                time.sleep(max(0.0, start + i / rate - time.perf_counter()))
            began = time.perf_counter()
            try:
                ids[i] = request_code(phones[i], client_ip=client_ip(i), runtime=rt).id
            except Exception as exc:  # any failure here means the setup is broken
                errors.append(f"{type(exc).__name__}: {exc}")
                return
            call_ms[i] = (time.perf_counter() - began) * 1000

    pool = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(120)
    if errors or any(thread.is_alive() for thread in pool):
        raise BenchError(f"request_code failed: {errors[0] if errors else 'timed out'}")
    return ids, call_ms, time.perf_counter() - start


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
) -> Result:
    """``request_code`` -> Redis -> ``celery -A worker worker`` x ``workers`` -> sandbox.

    1. drain: ``n`` requests queued first, then the workers start; sends/s and CPU come from
       this backlog, so no producer competes with the workers for the CPU;
    2. live (``live_seconds`` > 0): requests paced at half the drain rate while the workers run;
       enqueue-to-gateway latency comes from these;
    3. settle: wait until delivery polling has given every message its final status, then count
       the ``state`` requests it took.
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
        errors=sum(count for state, count in states.items() if state != "sent"),
        state_per_message=(
            stats["state"] / max(stats["password_generation"], 1) if settle else None
        ),
        rss_mb=round(rss, 1),
        extra=extra,
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
