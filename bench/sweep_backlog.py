"""How many sends of a backlog longer than the pending-send grace the lost-send sweep enqueues
again, though no message was lost.

    .venv/bin/python bench/sweep_backlog.py [--n 1500] [--deadline 30] [--latency-ms 1000]

Starts a private Redis and the sandbox gateway, queues ``n`` verifications with a send window
of ``--deadline`` seconds (the grace is half of it, 15 s), then starts one worker as the
Procfile runs it, whose sweep timer runs every 5 s while it drains the backlog. Once no send is
left queued or sending it prints the backlog's drain time, how many sends the sweep enqueued
again (the worker's ``lost send ... enqueued again`` lines), how many SMS the sandbox received
and the worker's CPU seconds. A backlog that outlives the grace needs ``n`` above the grace
times the drain rate: one worker's 64 threads on a gateway answering in 1 s drain about
64 sends/s, so 1500 take some 23 s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

_BENCH = Path(__file__).resolve().parent
for _path in (_BENCH, _BENCH.parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from harness import (  # noqa: E402
    BenchError,
    Phones,
    WaitTimeout,
    bench_redis,
    bench_settings,
    cpu_seconds,
    procfile_worker,
    record_fields,
    start_sandbox,
    wait_until,
)
from scenarios import Context, produce, start_workers  # noqa: E402

from worker.dev.devstack import Stack  # noqa: E402
from worker.runtime import Runtime, set_runtime  # noqa: E402


def run(args: argparse.Namespace, ctx: Context) -> None:
    sandbox = start_sandbox(ctx.stack, ctx.logs, args.latency_ms)
    settings = bench_settings(ctx.redis_url, sandbox, OTP_SEND_DEADLINE_SECONDS=args.deadline)
    rt = Runtime.from_settings(settings)
    set_runtime(rt)
    print(f"queueing {args.n} verifications ...", file=sys.stderr)
    ids, _, _ = produce(rt, ctx.phones.take(args.n), threads=8)
    [(proc, log)] = start_workers(ctx, settings, 1, "sweep")
    began = time.monotonic()

    def drained() -> bool:
        return not any(s in ("queued", "sending") for s in record_fields(settings, ids, "state"))

    wait_until(drained, 60 + 2 * args.deadline, "the backlog drained", alive=[proc])
    took = time.monotonic() - began
    states = record_fields(settings, ids, "state")
    print(f"grace {settings.pending_send_grace_ms / 1000:g} s, backlog {args.n}, drained in"
          f" {took:.1f} s")  # fmt: skip
    print(f"enqueued again by the sweep: {log.read_text().count('enqueued again')}")
    print(f"SMS received by the sandbox: {sandbox.sends()}")
    print(f"failed (send window over): {states.count('failed')}")
    print(f"worker CPU: {cpu_seconds([proc.pid]):.2f} s")
    rt.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1500, help="verifications queued")
    parser.add_argument("--deadline", type=int, default=30, help="OTP_SEND_DEADLINE_SECONDS")
    parser.add_argument("--latency-ms", type=float, default=1000.0)
    args = parser.parse_args()
    stack = Stack()
    try:
        logs = Path(tempfile.mkdtemp(prefix="targetsms-sweep-"))
        redis_url = bench_redis(stack)
        run(args, Context(stack, logs, redis_url, None, Phones(), procfile_worker()))
        return 0
    except (BenchError, WaitTimeout) as exc:
        print(f"sweep_backlog: error: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.close()


if __name__ == "__main__":
    sys.exit(main())
