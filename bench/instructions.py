"""Instructions per SMS, counted by callgrind: the worker as the Procfile runs it, and the bare loop

    .venv/bin/python bench/instructions.py [--latency-ms 200] [--sends 300] [--warmup 60]
        [--only worker|bare|floor|floor-gateway|all] [--out DIR] [--json FILE]

CPU seconds per SMS (``bench/run.py``) move with the VM's speed and with whatever else runs on
the machine; an instruction count does not. This starts a private Redis and the sandbox gateway,
then runs, each under ``valgrind --tool=callgrind`` with instrumentation off until warmed up:

1. worker: ``sends + warmup`` verifications queued, then one ``celery -A worker worker`` started
   as the Procfile says (the same command as ``bench/run.py``'s "ours" scenario);
2. bare: ``TargetSMSClient.send_code`` from as many threads as the worker's concurrency, each
   with its own keep-alive ``RequestsTransport`` (``bench/run.py``'s "bare" scenario);
3. floor (``--only floor`` or ``all``): the same worker command plus ``--include floor_tasks``,
   consuming no-op tasks from the send queue (``bench/floor_tasks.py``): what Celery, kombu and
   the Redis broker cost per task with this project's configuration and pool, before any Lua
   step or gateway call. Its unit is a task acked instead of an SMS;
4. floor-gateway (``--only floor-gateway`` or ``all``): the same, each task making the bare
   loop's one ``send_code`` call: the least a Celery worker can spend per SMS.

Once ``warmup`` SMS have reached the sandbox, ``callgrind_control`` switches instrumentation on;
after ``sends`` more it dumps the counters. Instructions per SMS = the dump's total (every thread
of the process) / the SMS that reached the sandbox in between. Requests in flight at either edge
make that divisor uncertain by up to the concurrency; the window is much longer than that.
Only this process's instructions are counted (not Redis's, not the sandbox's). Slow: callgrind
runs a process 20-100x slower than natively (a few minutes for the defaults).
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

_BENCH = Path(__file__).resolve().parent
for _path in (_BENCH, _BENCH.parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from floor_tasks import FLOOR_TASK, GATEWAY_TASK  # noqa: E402
from harness import (  # noqa: E402
    LOGIN,
    PASSWORD,
    SENDER,
    SERVICE,
    BenchError,
    Phones,
    Sandbox,
    WaitTimeout,
    bench_redis,
    bench_settings,
    child_env,
    fresh_log,
    procfile_worker,
    start_sandbox,
    stop_process,
    tail,
    wait_until,
)
from scenarios import TEXT, Context, produce, purge_queues  # noqa: E402

from worker.dev.devstack import Stack, python  # noqa: E402
from worker.queue.names import SEND_QUEUE  # noqa: E402
from worker.runtime import Runtime, celery_app, set_runtime  # noqa: E402

# kombu's Redis channel keeps delivered, not yet acked messages in this hash (its default).
UNACKED_KEY = "unacked"

_TOTALS = re.compile(r"^(?:summary|totals):\s*(\d+)", re.MULTILINE)


def _valgrind(out: Path, name: str) -> list[str]:
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        raise BenchError("valgrind (with callgrind_control) is not installed")
    return [
        "valgrind", "--tool=callgrind", "--instr-atstart=no", "--fair-sched=try",
        f"--callgrind-out-file={out / name}.%p.cg",
    ]  # fmt: skip


def _control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)


def _count(
    proc: subprocess.Popen[bytes],
    done: Callable[[], int],
    warmup: int,
    sends: int,
    log: Path,
    out: Path,
) -> dict[str, Any]:
    """Instrument ``proc`` from ``warmup`` units of work on (``done()``: SMS that reached the
    sandbox, or floor tasks acked), for ``sends`` more; its instructions per unit."""
    timeout = 120 + warmup * 2
    try:
        wait_until(lambda: done() >= warmup, timeout, "warm-up sends", alive=[proc])
        _control(proc.pid, "--instr=on")
        first = done()
        began = time.monotonic()
        target = first + sends
        wait_until(lambda: done() >= target, 120 + sends * 3, "sends", alive=[proc])
        before = done()
        _control(proc.pid, "--dump")
        after = done()
    except (BenchError, WaitTimeout) as exc:
        raise BenchError(f"{exc} ({tail(log)})") from None
    wall = time.monotonic() - began
    dumps = sorted(out.glob(f"*.{proc.pid}.cg*"), key=lambda p: p.stat().st_mtime)
    totals = [int(m.group(1)) for p in dumps if (m := _TOTALS.search(p.read_text()))]
    if not totals:
        raise BenchError(f"no callgrind dump with totals for pid {proc.pid} in {out}")
    counted = (before + after) / 2 - first
    return {
        "instructions": totals[-1],
        "sms": counted,
        "instructions_per_sms": round(totals[-1] / counted),
        "wall_s": round(wall, 1),
    }


def run_worker(ctx: Context, sandbox: Sandbox, n: int, warmup: int) -> dict[str, Any]:
    sandbox.reset()
    # Under callgrind a queued send waits minutes: keep the sweep from taking it for lost (its
    # grace follows these two) and the broker from redelivering a slow task.
    settings = bench_settings(
        ctx.redis_url, sandbox, CELERY_VISIBILITY_TIMEOUT=1200, OTP_SEND_DEADLINE_SECONDS=3600
    )
    rt = Runtime.from_settings(settings)
    set_runtime(rt)
    try:
        produce(rt, ctx.phones.take(n + warmup + ctx.worker.concurrency * 2), threads=8)
        log = fresh_log(ctx.logs / "worker.log")
        argv = [*_valgrind(ctx.logs, "worker"), *ctx.worker.argv(f"cg-{secrets.token_hex(3)}@%h")]
        proc = ctx.stack.spawn("worker", argv, child_env(settings.to_env()), log)
        try:
            return _count(proc, sandbox.sends, warmup, n, log, ctx.logs)
        finally:
            stop_process(ctx.stack, proc, timeout=60)
    finally:
        rt.close()


def run_bare(ctx: Context, sandbox: Sandbox, n: int, warmup: int) -> dict[str, Any]:
    sandbox.reset()
    log = fresh_log(ctx.logs / "bare.log")
    total = n + warmup + ctx.worker.concurrency * 2
    argv = [
        *_valgrind(ctx.logs, "bare"), python(), str(Path(__file__).resolve()), "--bare-child",
        "--url", sandbox.url, "--sends", str(total), "--threads", str(ctx.worker.concurrency),
    ]  # fmt: skip
    proc = ctx.stack.spawn("bare", argv, child_env(), log)
    try:
        return _count(proc, sandbox.sends, warmup, n, log, ctx.logs)
    finally:
        stop_process(ctx.stack, proc, timeout=60)


def _floor_done(redis_url: str, total: int) -> Callable[[], int]:
    """Floor tasks acked so far: queued, minus those still in the queue or delivered unacked."""
    client = redis.Redis.from_url(redis_url, socket_timeout=10)

    def done() -> int:
        with client.pipeline(transaction=False) as pipe:
            pipe.llen(SEND_QUEUE)
            pipe.hlen(UNACKED_KEY)
            queued, unacked = pipe.execute()
        return total - int(queued) - int(unacked)

    return done


def _run_floor(
    ctx: Context, sandbox: Sandbox, n: int, warmup: int, name: str, task: str, arg: list[str]
) -> dict[str, Any]:
    """The worker as the Procfile runs it, plus ``--include floor_tasks``, consuming ``task``
    messages (one per item of ``arg``) from the send queue."""
    sandbox.reset()
    settings = bench_settings(ctx.redis_url, sandbox, CELERY_VISIBILITY_TIMEOUT=1200)
    rt = Runtime.from_settings(settings)
    set_runtime(rt)
    try:
        purge_queues()  # what an earlier worker left queued must not count as floor tasks
        app = celery_app()
        with app.producer_or_acquire() as producer:
            for item in arg:
                app.send_task(task, args=[item], producer=producer)
        log = fresh_log(ctx.logs / f"{name}.log")
        argv = [
            *_valgrind(ctx.logs, name),
            *ctx.worker.argv(f"cg-{secrets.token_hex(3)}@%h"), "--include", "floor_tasks",
        ]  # fmt: skip
        proc = ctx.stack.spawn(name, argv, child_env(settings.to_env()), log)
        done = sandbox.sends if task == GATEWAY_TASK else _floor_done(ctx.redis_url, len(arg))
        try:
            return _count(proc, done, warmup, n, log, ctx.logs)
        finally:
            stop_process(ctx.stack, proc, timeout=60)
    finally:
        purge_queues()
        rt.close()


def run_floor(ctx: Context, sandbox: Sandbox, n: int, warmup: int) -> dict[str, Any]:
    """Celery's own cost per task: no-op tasks (``floor_tasks.py``); no Lua, no gateway."""
    ids = [secrets.token_hex(16) for _ in range(n + warmup + ctx.worker.concurrency * 2)]
    return _run_floor(ctx, sandbox, n, warmup, "floor", FLOOR_TASK, ids)


def run_floor_gateway(ctx: Context, sandbox: Sandbox, n: int, warmup: int) -> dict[str, Any]:
    """Celery plus the bare loop's call per task: the least a Celery worker does per SMS."""
    phones = ctx.phones.take(n + warmup + ctx.worker.concurrency * 2)
    return _run_floor(ctx, sandbox, n, warmup, "floor-gateway", GATEWAY_TASK, phones)


def bare_child(url: str, sends: int, threads: int) -> int:
    """The bare loop of ``bench/run.py``, as a process of its own (what callgrind counts)."""
    import contextlib
    import itertools
    import threading

    from worker.errors import GatewayError
    from worker.providers.targetsms import RequestsTransport, TargetSMSClient

    phones = Phones().take(sends)
    next_index = itertools.count()

    def loop() -> None:
        client = TargetSMSClient(
            login=LOGIN,
            password=PASSWORD,
            sender=SENDER,
            service_name=SERVICE,
            send_url=f"{url}/password_generation/api.php",
            state_url=f"{url}/xml/state.php",
            transport=RequestsTransport(pool_size=1),
        )
        try:
            while (i := next(next_index)) < sends:
                with contextlib.suppress(GatewayError):
                    client.send_code(phones[i], text=TEXT, code_length=6)
        finally:
            client.close()

    pool = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--sends", type=int, default=300, help="SMS counted")
    parser.add_argument("--warmup", type=int, default=60, help="SMS before counting starts")
    parser.add_argument(
        "--only",
        choices=("worker", "bare", "floor", "floor-gateway", "all"),
        help="default: worker and bare",
    )
    parser.add_argument("--out", type=Path, help="directory for logs and callgrind files")
    parser.add_argument("--json", type=Path, metavar="FILE")
    parser.add_argument("--bare-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=64, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_child:
        return bare_child(args.url, args.sends, args.threads)
    out = args.out or Path(tempfile.mkdtemp(prefix="targetsms-callgrind-"))
    out.mkdir(parents=True, exist_ok=True)
    stack = Stack()
    try:
        worker = procfile_worker()
        print(f"worker: {worker.describe()}; files in {out}", file=sys.stderr)
        redis_url = bench_redis(stack)
        sandbox = start_sandbox(stack, out, args.latency_ms)
        ctx = Context(stack, out, redis_url, None, Phones(), worker)
        results: dict[str, Any] = {"latency_ms": args.latency_ms}
        runs = (
            ("worker", run_worker),
            ("bare", run_bare),
            ("floor", run_floor),
            ("floor-gateway", run_floor_gateway),
        )
        for name, run in runs:
            if (
                args.only == name
                or args.only == "all"
                or (args.only is None and name in ("worker", "bare"))
            ):
                print(f"{name}: counting {args.sends} SMS ...", file=sys.stderr)
                results[name] = run(ctx, sandbox, args.sends, args.warmup)
                r = results[name]
                print(
                    f"{name:<7} {r['instructions_per_sms'] / 1e6:8.2f} M instructions per SMS"
                    f" ({r['instructions'] / 1e9:.2f} G over {r['sms']:g} SMS, {r['wall_s']:g} s)"
                )
        if "worker" in results and "bare" in results:
            ratio = (
                results["worker"]["instructions_per_sms"] / results["bare"]["instructions_per_sms"]
            )
            results["ratio_worker_vs_bare"] = round(ratio, 3)
            print(f"worker / bare: {ratio:.2f}")
        bare = results.get("bare", {}).get("instructions_per_sms")
        for name in ("floor", "floor-gateway"):
            if name in results and bare:
                mine = results[name]["instructions_per_sms"]
                results[f"ratio_{name.replace('-', '_')}_vs_bare"] = round(mine / bare, 3)
                print(f"{name} / bare: {mine / bare:.2f}")
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
        return 0
    except (BenchError, WaitTimeout, subprocess.CalledProcessError) as exc:
        print(f"instructions: error: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.close()


if __name__ == "__main__":
    sys.exit(main())
