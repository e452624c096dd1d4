"""Throughput and latency of the SMS pipeline against the sandbox gateway, over loopback only.

    .venv/bin/python bench/run.py [--quick] [--json FILE]

Starts a private Redis (or uses BENCH_REDIS_URL), the sandbox gateway at 0 ms and 200 ms
latency, and Celery workers, all as child processes, then compares at each latency:

1. bare:  threads calling ``TargetSMSClient.send_code`` directly (no queue, no Redis);
2. naive: the Celery app people write first (``bench/naive_app.py``: prefork, default
          concurrency, sync ``requests.post``, one ``state`` task per message);
3. ours:  ``worker.request_code`` -> Redis -> ``celery -A worker worker`` as the Procfile runs
          it -> sandbox, with 1 and 2 worker processes; delivery polling included;

and measures ``request_code`` / ``verify_code`` latency one call at a time. Prints a table and
writes the figures as JSON. ``--quick`` (< 2 min) runs fewer and smaller scenarios; the full run
takes under 10 min. Exit status: 0 when everything ran, 1 (one line on stderr) when something
could not start or did not finish, 130 on Ctrl-C; every child process is stopped either way.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import signal
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
    bench_redis,
    machine,
    procfile_worker,
    start_sandbox,
)
from scenarios import (  # noqa: E402
    Context,
    Result,
    run_api_latency,
    run_bare,
    run_naive,
    run_ours,
)

from worker.devstack import Stack  # noqa: E402

SLOW, FAST = 200.0, 0.0  # gateway latencies, ms

TARGETS = {
    "ratio_vs_bare": (">=", 0.6),
    "ratio_vs_naive": (">=", 10.0),
    "request_code_p99_ms": ("<=", 5.0),
    "verify_code_p99_ms": ("<=", 2.0),
    "state_requests_per_message": ("<=", 0.1),
    "worker_rss_mb": ("<=", 150.0),
    "speedup_2_vs_1_workers_0ms": (">=", 1.7),
}


@dataclasses.dataclass(frozen=True)
class OursRun:
    latency_ms: float
    workers: int
    n: int
    live_seconds: float = 0.0
    settle: bool = False


@dataclasses.dataclass(frozen=True)
class Plan:
    bare: tuple[tuple[float, int, int], ...]  # latency, threads as a multiple of the
    # worker's concurrency, SMS
    naive: tuple[tuple[float, int], ...]  # latency, SMS
    ours: tuple[OursRun, ...]
    api_calls: int


QUICK = Plan(
    bare=((SLOW, 1, 1200), (FAST, 1, 1500)),
    naive=((SLOW, 30), (FAST, 300)),
    ours=(
        OursRun(SLOW, 1, 1200, live_seconds=4, settle=True),
        OursRun(FAST, 1, 1500),
        OursRun(FAST, 2, 1500),
    ),
    api_calls=2000,
)
FULL = Plan(
    bare=((SLOW, 1, 4000), (SLOW, 2, 5000), (FAST, 1, 5000)),
    naive=((SLOW, 100), (FAST, 1000)),
    ours=(
        OursRun(SLOW, 1, 4000, live_seconds=10, settle=True),
        OursRun(SLOW, 2, 5000, settle=True),
        OursRun(FAST, 1, 5000, live_seconds=10, settle=True),
        OursRun(FAST, 2, 6000, settle=True),
    ),
    api_calls=2000,
)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run(plan: Plan, ctx: Context, sandboxes: dict[float, Sandbox]) -> dict[str, Any]:
    conc = ctx.worker.concurrency
    results: list[Result] = []

    def step(text: str) -> None:
        print(f"  .. {text}", file=sys.stderr, flush=True)

    step(f"producer API: {plan.api_calls} request_code + {2 * plan.api_calls} verify_code")
    api = run_api_latency(ctx, sandboxes[SLOW], plan.api_calls)
    for latency, multiple, n in plan.bare:
        step(f"bare loop, {latency:g} ms, {multiple * conc} threads, {n} SMS")
        results.append(run_bare(ctx, sandboxes[latency], n, multiple * conc))
    for latency, n in plan.naive:
        step(f"naive Celery, {latency:g} ms, {n} SMS")
        results.append(run_naive(ctx, sandboxes[latency], n))
    for r in plan.ours:
        step(f"ours, {r.latency_ms:g} ms, {r.workers} worker(s) x {conc}, {r.n} SMS")
        results.append(
            run_ours(ctx, sandboxes[r.latency_ms], r.workers, r.n, r.live_seconds, r.settle)
        )
    return summarize(results, api, conc)


def _find(results: list[Result], scenario: str, latency: float, procs: int, conc: int) -> Result:
    for r in results:
        if (r.scenario, r.latency_ms, r.processes) == (scenario, latency, procs) and (
            scenario == "naive" or r.concurrency == conc
        ):
            return r
    raise BenchError(f"internal: no {scenario} result at {latency:g} ms, {procs}x{conc}")


def _ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b > 0 and not math.isnan(a) and not math.isnan(b) else math.nan


def summarize(results: list[Result], api: dict[str, float], conc: int) -> dict[str, Any]:
    ours = _find(results, "ours", SLOW, 1, conc)
    ours_fast = _find(results, "ours", FAST, 1, conc)
    out: dict[str, Any] = {
        "ratio_vs_bare": _ratio(
            ours.sends_per_s, _find(results, "bare", SLOW, 1, conc).sends_per_s
        ),
        "ratio_vs_naive": _ratio(ours.sends_per_s, _find(results, "naive", SLOW, 1, 0).sends_per_s),
        "request_code_p99_ms": api["request_code_p99_ms"],
        "verify_code_p99_ms": api["verify_code_p99_ms"],
        "state_requests_per_message": round(ours.state_per_message or math.nan, 4),
        "worker_rss_mb": ours.rss_mb,
        "speedup_2_vs_1_workers_0ms": _ratio(
            _find(results, "ours", FAST, 2, conc).sends_per_s, ours_fast.sends_per_s
        ),
        "ours_200ms_sends_per_s": round(ours.sends_per_s, 1),
        "ours_0ms_sends_per_s": round(ours_fast.sends_per_s, 1),
        "worker_cpu_s_per_1000_sends_0ms": ours_fast.cpu_per_1000.get("worker"),
        "worker_cpu_s_per_1000_sends_200ms": ours.cpu_per_1000.get("worker"),
        **{k: v for k, v in ours.extra.items() if k.endswith("_ms")},
        **api,
    }
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
        f"{'scenario':<22}{'SMS':>6}{'sends/s':>9}{'CPU s/1000: worker':>20}{'sandbox':>8}"
        f"{'redis':>7}{'bench':>7}{'state/msg':>10}{'RSS MB':>8}{'err':>5}"
    )
    print(head)
    print("-" * len(head))
    for r in summary["scenarios"]:
        cpu = r["cpu_per_1000"]
        own = cpu.get("worker", cpu.get("bench"))
        print(
            f"{r['label']:<22}{r['sends']:>6}{_fmt(r['sends_per_s']):>9}{_fmt(own, 2):>20}"
            f"{_fmt(cpu.get('sandbox'), 2):>8}{_fmt(cpu.get('redis'), 2):>7}"
            f"{_fmt(cpu.get('bench'), 2) if 'worker' in cpu else '(same)':>7}"
            f"{_fmt(r['state_per_message'], 3):>10}{_fmt(r['rss_mb']):>8}{r['errors']:>5}"
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
    print(
        f"producer API, one call at a time ({summary['calls']} each):"
        f" request_code p50 {summary['request_code_p50_ms']} ms"
        f" p99 {summary['request_code_p99_ms']} ms;"
        f" verify_code p50 {summary['verify_code_p50_ms']} ms"
        f" p99 {summary['verify_code_p99_ms']} ms"
    )
    print()
    for key, (op, target) in TARGETS.items():
        value = summary.get(key)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            verdict = "n/a"
        else:
            met = value >= target if op == ">=" else value <= target
            verdict = "met" if met else "MISSED"
        print(f"{key:<30}{_fmt(value, 3):>10}   target {op} {target:g}   {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the SMS pipeline (loopback only).")
    parser.add_argument("--quick", action="store_true", help="smaller run, under 2 minutes")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures here")
    parser.add_argument("--keep-logs", action="store_true", help="keep the child processes' logs")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)

    plan = QUICK if args.quick else FULL
    logs = Path(tempfile.mkdtemp(prefix="targetsms-bench-"))
    stack = Stack()
    started = time.monotonic()
    ok = False
    try:
        worker = procfile_worker()
        print(f"worker: {worker.describe()}  [{worker.source}]", file=sys.stderr)
        redis_url = bench_redis(stack)
        redis_pid = next((p.pid for name, p in stack.processes if name == "redis"), None)
        sandboxes = {latency: start_sandbox(stack, logs, latency) for latency in (SLOW, FAST)}
        ctx = Context(stack, logs, redis_url, redis_pid, Phones(), worker)
        summary = run(plan, ctx, sandboxes)
        summary = {
            "mode": "quick" if args.quick else "full",
            "elapsed_s": round(time.monotonic() - started, 1),
            "worker_command": worker.describe(),
            "machine": machine(),
            **summary,
        }
        print_table(summary)
        if args.json:
            args.json.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
        print(f"\ndone in {summary['elapsed_s']:.0f} s", file=sys.stderr)
        ok = True
        return 0
    except KeyboardInterrupt:
        print("bench: interrupted; stopping everything it started", file=sys.stderr)
        return 130
    except BenchError as exc:
        print(f"bench: error: {exc} (logs in {logs})", file=sys.stderr)
        args.keep_logs = True
        return 1
    except Exception as exc:
        if os.environ.get("BENCH_DEBUG"):
            raise
        print(f"bench: error: {type(exc).__name__}: {exc} (logs in {logs})", file=sys.stderr)
        args.keep_logs = True
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        stack.close()
        if ok and not args.keep_logs:
            shutil.rmtree(logs, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
