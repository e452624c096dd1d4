"""Where a worker's CPU goes under load, and where ``request_code``'s time goes.

    .venv/bin/python bench/profile_worker.py [--latency-ms 0] [--n 6000] [--seconds 10]
        [--out DIR] [--loglevel LEVEL]

Starts a private Redis and the sandbox gateway, queues ``n`` verifications, starts one
``celery -A worker worker`` the way the Procfile does, and once sends flow records it with
``py-spy record --gil`` (only the thread holding the GIL: where the CPU goes). Writes the
collapsed stacks (``worker.collapsed``, flamegraph input) and prints the top functions, self and
inclusive, and a split by package. Then profiles ``request_code`` in this process with
cProfile. Needs py-spy (in the dev venv) and ptrace rights over child processes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
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
    client_ip,
    procfile_worker,
    start_sandbox,
    wait_until,
)
from scenarios import Context, produce, purge_queues, start_workers  # noqa: E402

from worker.api.producer import request_code  # noqa: E402
from worker.dev.devstack import Stack  # noqa: E402
from worker.runtime import Runtime, set_runtime  # noqa: E402

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:]*)(?::\d+)?\)$")

# Top-level module of a frame's file -> the bucket it is counted in.
_BUCKETS = {
    "requests": "HTTP client (requests, urllib3, http.client)",
    "urllib3": "HTTP client (requests, urllib3, http.client)",
    "http": "HTTP client (requests, urllib3, http.client)",
    "socket": "HTTP client (requests, urllib3, http.client)",
    "ssl": "HTTP client (requests, urllib3, http.client)",
    "redis": "redis-py",
    "threading": "thread pool (threading, queue, futures)",
    "queue": "thread pool (threading, queue, futures)",
    "concurrent": "thread pool (threading, queue, futures)",
}


# What a sample was doing: the innermost frame that matches a marker decides.
_ACTIVITIES = (
    ("logging", ("Logger._log", "Logger.info", "Logger.warning", "Logger.debug", "Logger.log")),
    ("Celery events (task-received/started/succeeded/sent)", ("(celery/events/",)),
    ("kombu: a new redis.Redis per broker operation", ("Channel._create_client",)),
    ("send: claim_send (Lua)", ("Sending.claim_send",)),
    ("send: store_sent (Lua)", ("Sending.store_sent",)),
    ("send: poll_schedule (Lua)", ("Delivery.poll_schedule",)),
    ("send: gateway HTTP (requests)", ("RequestsTransport.post",)),
    ("send: XML build/parse, phone, checks", ("TargetSMSClient.send_code",)),
    ("send: retry wrapper (tenacity)", ("call_with_retries",)),
    ("publishing poll tasks", ("enqueue_poll",)),
    ("poll task: state request + Lua", ("poll_due",)),
    ("send: rest of send_verification", ("send_verification",)),
    ("acks and unacked bookkeeping (acks_late)", ("QoS.", "Message.ack", "Request.acknowledge")),
    ("Celery task tracing (pool thread)", ("trace_task", "apply_target")),
    ("consumer loop: receive, decode, reserve", ("asynloop", "Hub.create_loop")),
    ("thread pool", ("concurrent/futures", "threading.py")),
)


def _activity(frames: list[tuple[str, str]]) -> str:
    for func, path in reversed(frames):
        label = f"{func} ({_short(path)})"
        for name, markers in _ACTIVITIES:
            if any(marker in label for marker in markers):
                return name
    return "other"


def _frames(stack: str) -> list[tuple[str, str]]:
    out = []
    for frame in stack.split(";"):
        match = _FRAME.match(frame.strip())
        out.append((match["func"], match["file"]) if match else (frame.strip(), ""))
    return out


def _package(path: str) -> str:
    parts = _short(path).split("/")
    head = parts[0].removesuffix(".py")
    if head == "worker" and len(parts) > 2:
        return f"worker.{parts[1]}"
    return _BUCKETS.get(head, head)


def summarize(collapsed: Path, top: int) -> str:
    """Top functions by self and inclusive samples, and self samples by package."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    activities: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = _frames(stack)
        if not frames:
            continue
        total += count
        func, path = frames[-1]
        own[f"{func} ({_short(path)})"] += count
        packages[_package(path)] += count
        activities[_activity(frames)] += count
        for name in {f"{f} ({_short(p)})" for f, p in frames}:
            inclusive[name] += count
    if not total:
        return "no samples"
    lines = [f"{total} samples holding the GIL", "", "by activity:"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in activities.most_common()]
    lines += ["", "self, by top-level module:"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in packages.most_common()]
    lines += ["", f"top {top} by self:"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in own.most_common(top)]
    lines += ["", f"top {top} by inclusive:"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(lines)


def _short(path: str) -> str:
    for marker in ("site-packages/", "lib/python3", "/work/main/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def profile_worker(args: argparse.Namespace, ctx: Context, out: Path) -> None:
    sandbox = start_sandbox(ctx.stack, ctx.logs, args.latency_ms)
    from harness import bench_settings

    settings = bench_settings(ctx.redis_url, sandbox)
    rt = Runtime.from_settings(settings)
    set_runtime(rt)
    phones = ctx.phones.take(args.n)
    print(f"queueing {args.n} verifications ...", file=sys.stderr)
    produce(rt, phones, threads=8)
    [(proc, _)] = start_workers(ctx, settings, 1, "profile")
    wait_until(lambda: sandbox.sends() >= args.n // 20, 60, "first sends", alive=[proc])
    collapsed = out / "worker.collapsed"
    print(f"py-spy: {args.seconds:g} s on worker pid {proc.pid} ...", file=sys.stderr)
    before = sandbox.sends()
    began = time.monotonic()
    subprocess.run(
        [
            shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy")),
            "record", "--pid", str(proc.pid), "--duration", f"{args.seconds:g}", "--rate", "100",
            "--gil", "--nonblocking", "--format", "raw", "--output", str(collapsed),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    rate = (sandbox.sends() - before) / (time.monotonic() - began)
    print(f"\n== worker at {args.latency_ms:g} ms gateway latency, {rate:.0f} sends/s ==")
    print(summarize(collapsed, args.top))
    print(f"\ncollapsed stacks: {collapsed}")
    rt.close()


def profile_producer(args: argparse.Namespace, ctx: Context) -> None:
    purge_queues()
    phones = ctx.phones.take(args.calls)
    profiler = cProfile.Profile()
    profiler.enable()
    for i, phone in enumerate(phones):
        request_code(phone, client_ip=client_ip(i))
    profiler.disable()
    purge_queues()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(args.top)
    print(f"\n== request_code x {args.calls}, cProfile, by cumulative time ==")
    print(text.getvalue())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--n", type=int, default=6000, help="verifications to queue")
    parser.add_argument("--seconds", type=float, default=10.0, help="py-spy duration")
    parser.add_argument("--calls", type=int, default=2000, help="request_code calls profiled")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", type=Path, help="directory for the collapsed stacks")
    parser.add_argument("--loglevel", help="override the Procfile's worker log level")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="targetsms-profile-"))
    out.mkdir(parents=True, exist_ok=True)
    stack = Stack()
    try:
        worker = procfile_worker()
        if args.loglevel:
            worker = type(worker)(
                worker.pool, worker.concurrency, args.loglevel.upper(), "--loglevel"
            )
        print(f"worker: {worker.describe()}", file=sys.stderr)
        redis_url = bench_redis(stack)
        ctx = Context(stack, out, redis_url, None, Phones(), worker)
        profile_worker(args, ctx, out)
        profile_producer(args, ctx)
        return 0
    except (BenchError, WaitTimeout, subprocess.CalledProcessError) as exc:
        print(f"profile: error: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.close()


if __name__ == "__main__":
    sys.exit(main())
