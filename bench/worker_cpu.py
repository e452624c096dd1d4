"""One worker's user and system CPU per SMS over a steady stretch of a backlog.

    .venv/bin/python bench/worker_cpu.py [--latency-ms 200] [--n 5000] [--seconds 20]

``bench/run.py`` meters CPU between the 10% and 90% marks of a short drain; this queues ``n``
verifications, starts one worker as the Procfile says, waits until a fifth of them went out
and then reads the worker's utime and stime (``/proc``) over ``seconds``, beside the SMS that
reached the sandbox meanwhile. Kernel time (sockets, futexes, wake-ups) is shown apart from
user time because an instruction count (``bench/instructions.py``) cannot see it.
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
    CLOCK_TICKS,
    BenchError,
    Phones,
    WaitTimeout,
    _stat_fields,
    bench_redis,
    bench_settings,
    process_tree,
    procfile_worker,
    start_sandbox,
    wait_until,
)
from scenarios import Context, produce, start_workers  # noqa: E402

from worker.dev.devstack import Stack  # noqa: E402
from worker.runtime import Runtime, set_runtime  # noqa: E402


def _cpu(pid: int) -> tuple[float, float]:
    user = system = 0
    for each in process_tree(pid):
        fields = _stat_fields(each)
        user, system = user + int(fields[11]), system + int(fields[12])
    return user / CLOCK_TICKS, system / CLOCK_TICKS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--n", type=int, default=5000, help="verifications queued")
    parser.add_argument("--seconds", type=float, default=20.0, help="the stretch measured")
    args = parser.parse_args()
    stack = Stack()
    logs = Path(tempfile.mkdtemp(prefix="targetsms-worker-cpu-"))
    try:
        redis_url = bench_redis(stack)
        sandbox = start_sandbox(stack, logs, args.latency_ms)
        settings = bench_settings(redis_url, sandbox)
        rt = Runtime.from_settings(settings)
        set_runtime(rt)
        ctx = Context(stack, logs, redis_url, None, Phones(), procfile_worker())
        produce(rt, ctx.phones.take(args.n), threads=8)
        [(proc, _)] = start_workers(ctx, settings, 1, "cpu")
        wait_until(lambda: sandbox.sends() >= args.n // 5, 120, "first sends", alive=[proc])
        (user0, sys0), sent0, began = _cpu(proc.pid), sandbox.sends(), time.monotonic()
        time.sleep(args.seconds)
        (user1, sys1), sent1, ended = _cpu(proc.pid), sandbox.sends(), time.monotonic()
        sent = sent1 - sent0
        if sent1 >= args.n:
            raise BenchError("the backlog ran out while measuring: raise --n")
        print(
            f"{args.latency_ms:g} ms: {sent / (ended - began):.0f} sends/s,"
            f" {(user1 - user0 + sys1 - sys0) / (ended - began):.2f} cores;"
            f" per SMS user {(user1 - user0) / sent * 1000:.2f} ms"
            f" + system {(sys1 - sys0) / sent * 1000:.2f} ms"
        )
        rt.close()
        return 0
    except (BenchError, WaitTimeout) as exc:
        print(f"worker_cpu: error: {exc} (logs in {logs})", file=sys.stderr)
        return 1
    finally:
        stack.close()


if __name__ == "__main__":
    sys.exit(main())
