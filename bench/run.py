"""Throughput and latency of the SMS pipeline against the sandbox gateway, over loopback only.

    .venv/bin/python bench/run.py [--quick] [--json FILE]

Starts a private Redis (or uses BENCH_REDIS_URL), the sandbox gateway at 0 ms and 200 ms
latency, and Celery workers, all as child processes, then compares at each latency:

1. bare:  threads calling ``TargetSMSClient.send_code`` directly (no queue, no Redis);
2. naive: the Celery app people write first (``bench/naive_app.py``: prefork, default
          concurrency, sync ``requests.post``, one ``state`` task per message);
3. ours:  ``worker.request_code`` -> Redis -> ``celery -A worker worker`` as the Procfile runs
          it -> sandbox, with 1 and 2 worker processes; delivery polling included;

and measures ``request_code`` / ``verify_code`` latency one call at a time and, in the first
"ours" run at 200 ms, while one worker is saturated (it drains a backlog) and this process calls
both at a steady rate, verifying the codes the worker sent. Prints a table and writes the
figures as JSON. ``--quick`` (< 2 min) runs fewer and smaller scenarios; the full run
takes under 10 min. Exit status: 0 when everything ran, 1 (one line on stderr) when something
could not start or did not finish, 130 on Ctrl-C; every child process is stopped either way.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

_BENCH = Path(__file__).resolve().parent
for _path in (_BENCH, _BENCH.parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from harness import (  # noqa: E402
    BenchError,
    Phones,
    Sandbox,
    WaitTimeout,
    bench_redis,
    calibration_ms,
    machine,
    procfile_worker,
    start_sandbox,
)
from scenarios import (  # noqa: E402
    Context,
    Result,
    WebLoad,
    describe_under_load,
    run_api_latency,
    run_bare,
    run_naive,
    run_ours,
)

from worker.dev.devstack import Stack  # noqa: E402

SLOW, FAST = 200.0, 0.0  # gateway latencies, ms

TARGETS = {
    "ratio_vs_bare": (">=", 0.6),
    "ratio_vs_naive": (">=", 10.0),
    "request_code_p99_ms": ("<=", 5.0),
    "verify_code_p99_ms": ("<=", 2.0),
    "request_code_p99_under_load_ms": ("<=", 3.0),
    "verify_code_p99_under_load_ms": ("<=", 1.0),
    "state_requests_per_message": ("<=", 0.1),
    "worker_rss_mb": ("<=", 150.0),
    "speedup_2_vs_1_workers_0ms": (">=", 1.7),
    "state_requests_per_message_0ms": ("<=", 0.1),
}


@dataclasses.dataclass(frozen=True)
class OursRun:
    latency_ms: float
    workers: int
    n: int
    live_seconds: float = 0.0
    settle: bool = False
    web: WebLoad | None = None  # web calls while the workers drain a backlog


@dataclasses.dataclass(frozen=True)
class Plan:
    """What one mode runs. The headline pair (bare loop and ours at 200 ms, one worker process,
    as many threads as its concurrency) runs ``pairs`` times, interleaved, and its medians are
    reported: the machine is shared, so one run of each can be unlucky."""

    pairs: int
    pair_sms: tuple[int, int]  # bare, ours
    live_seconds: float  # paced phase of the first "ours" run at each latency
    web: WebLoad  # web calls while the worker drains a backlog: first "ours" run at 200 ms
    bare: tuple[tuple[float, int, int], ...]  # more: latency, threads / concurrency, SMS
    naive: tuple[tuple[float, int], ...]  # latency, SMS
    ours: tuple[OursRun, ...]  # more
    api_calls: int


QUICK = Plan(
    pairs=1,
    pair_sms=(1000, 1000),
    live_seconds=4,
    web=WebLoad(seconds=5),
    bare=((FAST, 1, 1500),),
    naive=((SLOW, 40), (FAST, 300)),
    ours=(OursRun(FAST, 1, 1200, settle=True), OursRun(FAST, 2, 1200)),
    api_calls=2000,
)
FULL = Plan(
    pairs=3,
    pair_sms=(4000, 4000),
    live_seconds=10,
    web=WebLoad(seconds=10),
    bare=((SLOW, 2, 5000), (FAST, 1, 5000)),
    naive=((SLOW, 120), (FAST, 1000)),
    ours=(
        OursRun(SLOW, 2, 5000, settle=True),
        OursRun(FAST, 1, 5000, live_seconds=10, settle=True, web=WebLoad(seconds=10)),
        OursRun(FAST, 2, 6000, settle=True),
    ),
    api_calls=2000,
)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


_T0 = time.monotonic()


def _step(text: str) -> None:
    print(f"  {time.monotonic() - _T0:5.0f} s  {text}", file=sys.stderr, flush=True)


def run(plan: Plan, ctx: Context, sandboxes: dict[float, Sandbox]) -> dict[str, Any]:
    conc = ctx.worker.concurrency
    _step(f"producer API: {plan.api_calls} request_code + {2 * plan.api_calls} verify_code")
    api = run_api_latency(ctx, sandboxes[SLOW], plan.api_calls)

    bare_runs: list[Result] = []
    ours_runs: list[Result] = []
    for i in range(plan.pairs):
        tag = f" (pair {i + 1} of {plan.pairs})" if plan.pairs > 1 else ""
        _step(f"bare loop, 200 ms, {conc} threads, {plan.pair_sms[0]} SMS{tag}")
        bare_runs.append(run_bare(ctx, sandboxes[SLOW], plan.pair_sms[0], conc))
        first = i == 0
        _step(f"ours, 200 ms, 1 worker x {conc}, {plan.pair_sms[1]} SMS{tag}")
        ours_runs.append(
            run_ours(
                ctx,
                sandboxes[SLOW],
                1,
                plan.pair_sms[1],
                live_seconds=plan.live_seconds if first else 0.0,
                settle=first,
                web=plan.web if first else None,
            )
        )
    results = [merge_runs(bare_runs), merge_runs(ours_runs)]

    for latency, multiple, n in plan.bare:
        _step(f"bare loop, {latency:g} ms, {multiple * conc} threads, {n} SMS")
        results.append(run_bare(ctx, sandboxes[latency], n, multiple * conc))
    for latency, n in plan.naive:
        _step(f"naive Celery, {latency:g} ms, {n} SMS")
        results.append(run_naive(ctx, sandboxes[latency], n))
    for r in plan.ours:
        _step(f"ours, {r.latency_ms:g} ms, {r.workers} worker(s) x {conc}, {r.n} SMS")
        results.append(
            run_ours(
                ctx, sandboxes[r.latency_ms], r.workers, r.n, r.live_seconds, r.settle, web=r.web
            )
        )
    return summarize(results, api, conc)


def merge_runs(runs: list[Result]) -> Result:
    """One result for repeated runs: median sends/s and CPU, the rest from the first run."""
    if len(runs) == 1:
        return runs[0]
    first = runs[0]
    groups = first.cpu_per_1000.keys()
    return dataclasses.replace(
        first,
        sends=sum(r.sends for r in runs),
        sends_per_s=statistics.median(r.sends_per_s for r in runs),
        cpu_per_1000={g: statistics.median(r.cpu_per_1000[g] for r in runs) for g in groups},
        errors=sum(r.errors for r in runs),
        extra={**first.extra, "sends_per_s_runs": [round(r.sends_per_s, 1) for r in runs]},
    )


def _find(results: list[Result], scenario: str, latency: float, procs: int, conc: int) -> Result:
    for r in results:
        if (r.scenario, r.latency_ms, r.processes) == (scenario, latency, procs) and (
            scenario == "naive" or r.concurrency == conc
        ):
            return r
    raise BenchError(f"internal: no {scenario} result at {latency:g} ms, {procs}x{conc}")


def _ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b > 0 and not math.isnan(a) and not math.isnan(b) else math.nan


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def summarize(results: list[Result], api: dict[str, float], conc: int) -> dict[str, Any]:
    ours = _find(results, "ours", SLOW, 1, conc)
    ours_fast = _find(results, "ours", FAST, 1, conc)
    bare = _find(results, "bare", SLOW, 1, conc)
    naive = _find(results, "naive", SLOW, 1, 0)
    out: dict[str, Any] = {
        "ratio_vs_bare": _ratio(ours.sends_per_s, bare.sends_per_s),
        "ratio_vs_naive": _ratio(ours.sends_per_s, naive.sends_per_s),
        "request_code_p99_ms": api["request_code_p99_ms"],
        "verify_code_p99_ms": api["verify_code_p99_ms"],
        "state_requests_per_message": _rounded(ours.state_per_message, 4),
        "worker_rss_mb": ours.rss_mb,
        "speedup_2_vs_1_workers_0ms": _ratio(
            _find(results, "ours", FAST, 2, conc).sends_per_s, ours_fast.sends_per_s
        ),
        "state_requests_per_message_0ms": _rounded(ours_fast.state_per_message, 4),
        "ours_200ms_sends_per_s": round(ours.sends_per_s, 1),
        "bare_200ms_sends_per_s": round(bare.sends_per_s, 1),
        "naive_200ms_sends_per_s": round(naive.sends_per_s, 1),
        "ours_0ms_sends_per_s": round(ours_fast.sends_per_s, 1),
        "worker_cpu_s_per_1000_sends_200ms": ours.cpu_per_1000.get("worker"),
        "worker_cpu_s_per_1000_sends_0ms": ours_fast.cpu_per_1000.get("worker"),
        "bare_cpu_s_per_1000_sends_200ms": bare.cpu_per_1000.get("bench"),
        **{k: v for k, v in ours.extra.items() if k.endswith("_ms")},
        **{f"{k}_0ms": v for k, v in ours_fast.extra.items() if k.endswith("_ms")},
        **api,
    }
    for suffix, r in (("", ours), ("_0ms", ours_fast)):
        loaded = r.extra.get("under_load")
        for call in ("request_code", "verify_code") if loaded else ():
            out[f"{call}_p50_under_load_ms{suffix}"] = loaded[f"{call}_p50_ms"]
            out[f"{call}_p99_under_load_ms{suffix}"] = loaded[f"{call}_p99_ms"]
            out[f"{call}_calls_under_load{suffix}"] = loaded[f"{call}_calls"]
    with_2x = [r for r in results if r.scenario == "bare" and r.concurrency == 2 * conc]
    ours_2 = [r for r in results if (r.scenario, r.latency_ms, r.processes) == ("ours", SLOW, 2)]
    if with_2x and ours_2:
        out["ratio_vs_bare_2_workers"] = _ratio(ours_2[0].sends_per_s, with_2x[0].sends_per_s)
    for r in results:
        out[f"{r.key}_sends_per_s"] = round(r.sends_per_s, 1)
    out["errors"] = sum(r.errors for r in results)
    out["scenarios"] = [r.as_dict() for r in results]
    return out


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def print_table(summary: dict[str, Any]) -> None:
    head = (
        f"{'scenario':<22}{'SMS':>6}{'sends/s':>9}"
        f"{'CPU s/1000 SMS: own':>21}{'sandbox':>8}{'redis':>7}"
        f"{'cores: own':>12}{'other':>7}{'state/msg':>10}{'RSS MB':>8}{'err':>5}"
    )
    print(head)
    print("-" * len(head))
    for r in summary["scenarios"]:
        cpu, cores = r["cpu_per_1000"], r["extra"].get("cpu_cores", {})
        own = "worker" if "worker" in cpu else "bench"
        print(
            f"{r['label']:<22}{r['sends']:>6}{_fmt(r['sends_per_s']):>9}"
            f"{_fmt(cpu.get(own), 2):>21}{_fmt(cpu.get('sandbox'), 2):>8}"
            f"{_fmt(cpu.get('redis'), 2):>7}{_fmt(cores.get(own), 2):>12}"
            f"{_fmt(cores.get('other'), 2):>7}{_fmt(r['state_per_message'], 3):>10}"
            f"{_fmt(r['rss_mb']):>8}{r['errors']:>5}"
        )
    print(
        "own = the worker process(es), or this process for the bare loop; other = the rest of"
        " the machine (not ours) while measuring"
    )
    print()
    for r in summary["scenarios"]:
        extra = r["extra"]
        if "enqueue_to_sent_p50_ms" in extra:
            print(
                f"{r['label']}, live at {extra['live_rate_per_s']:g}/s:"
                f" created->sent p50 {extra['enqueue_to_sent_p50_ms']} ms"
                f" p99 {extra['enqueue_to_sent_p99_ms']} ms;"
                f" created->gateway p50 {extra['enqueue_to_gateway_p50_ms']} ms"
                f" p99 {extra['enqueue_to_gateway_p99_ms']} ms;"
                f" request_code p99 under load {extra['request_code_under_load_p99_ms']} ms"
            )
        if "under_load" in extra:
            print(describe_under_load(r["label"], extra["under_load"]))
    print(
        f"producer API, one call at a time ({summary['api_calls']} each):"
        f" request_code p50 {summary['request_code_p50_ms']} ms"
        f" p99 {summary['request_code_p99_ms']} ms;"
        f" verify_code p50 {summary['verify_code_p50_ms']} ms"
        f" p99 {summary['verify_code_p99_ms']} ms"
    )
    before, after = summary["calibration_ms"]
    print(
        f"machine speed: a fixed workload took {before:g} ms of CPU at the start, {after:g} ms"
        " at the end (lower is faster; compare runs by it)"
    )
    load = summary["loadavg"]
    print(f"load average (1 min): {load['start']:g} at the start, {load['end']:g} at the end")
    print()
    for key, (op, target) in TARGETS.items():
        value = summary.get(key)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            verdict = "n/a"
        else:
            met = value >= target if op == ">=" else value <= target
            verdict = "met" if met else "MISSED"
        print(f"{key:<30}{_fmt(value, 3):>10}   target {op} {target:g}   {verdict}")


def _no_nan(value: Any) -> Any:
    """NaN (a figure that could not be computed) as null: strict JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_no_nan(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the SMS pipeline (loopback only).")
    parser.add_argument("--quick", action="store_true", help="smaller run, under 2 minutes")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures here")
    parser.add_argument("--keep-logs", action="store_true", help="keep the child processes' logs")
    parser.add_argument(
        "--concurrency",
        type=int,
        metavar="N",
        help="worker threads per process instead of the Procfile's (to compare pool sizes)",
    )
    args = parser.parse_args(argv)
    if args.concurrency is not None and args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    signal.signal(signal.SIGTERM, _interrupt)

    plan = QUICK if args.quick else FULL
    logs = Path(tempfile.mkdtemp(prefix="targetsms-bench-"))
    stack = Stack()
    status, message = 1, ""
    try:
        summary = run_all(plan, stack, logs, quick=args.quick, concurrency=args.concurrency)
        print_table(summary)
        if args.json:
            text = json.dumps(_no_nan(summary), indent=2, ensure_ascii=False, allow_nan=False)
            args.json.write_text(text + "\n")
        status, message = 0, f"\ndone in {summary['elapsed_s']:.0f} s"
    except KeyboardInterrupt:
        status, message = 130, f"bench: interrupted; stopped what it started (logs in {logs})"
    except (BenchError, WaitTimeout) as exc:
        message = f"bench: error: {exc} (logs in {logs})"
    except Exception as exc:
        if os.environ.get("BENCH_DEBUG"):
            raise
        message = f"bench: error: {type(exc).__name__}: {exc} (logs in {logs})"
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the cleanup finish
        # Producer threads still running after an error may log about the Redis stopped here.
        logging.disable(logging.CRITICAL)
        stack.close()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if status == 0 and not args.keep_logs:
            shutil.rmtree(logs, ignore_errors=True)
    print(message, file=sys.stderr)
    return status


def run_all(
    plan: Plan, stack: Stack, logs: Path, *, quick: bool, concurrency: int | None = None
) -> dict[str, Any]:
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    speed_before = calibration_ms()
    worker = procfile_worker()
    if concurrency is not None:
        worker = dataclasses.replace(worker, concurrency=concurrency, source="--concurrency")
    print(f"worker: {worker.describe()}  [{worker.source}]", file=sys.stderr)
    redis_url = bench_redis(stack)
    redis_pid = next((p.pid for name, p in stack.processes if name == "redis"), None)
    sandboxes = {latency: start_sandbox(stack, logs, latency) for latency in (SLOW, FAST)}
    ctx = Context(stack, logs, redis_url, redis_pid, Phones(), worker)
    summary = run(plan, ctx, sandboxes)
    return {
        "mode": "quick" if quick else "full",
        "elapsed_s": round(time.monotonic() - started, 1),
        "worker_command": worker.describe(),
        "machine": machine(),
        # CPU ms of a fixed workload before and after: the VM's speed drifts between runs.
        "calibration_ms": [speed_before, calibration_ms()],
        "loadavg": {"start": round(load_before, 2), "end": round(os.getloadavg()[0], 2)},
        **summary,
    }


if __name__ == "__main__":
    sys.exit(main())
