"""Where a web app's ``request_code`` / ``verify_code`` time goes while a worker is saturated.

    .venv/bin/python bench/under_load.py [--seconds 8] [--latency-ms 200] [--json FILE]

``bench/run.py`` measures both calls beside one saturated worker (``under_load`` in
``bench/scenarios.py``). This runs that phase in variants, each with a fresh worker, to tell the
causes of a slow call apart:

- ``both``: what run.py does (100 request_code/s from 8 threads, 110 verify_code/s from one);
- ``verify only`` / ``request only``: the other call left out, so the calls no longer wait
  for each other's GIL in this process;
- ``both, no backlog``: the worker sends only what the paced requests queue (a third of what
  it could), so its CPU and its Redis commands mostly leave the cores and Redis alone.

Each call's thread CPU time is kept beside its wall time (wall - CPU = waiting: for the GIL, a
core, or Redis). Redis's slow log (commands over 250 us inside Redis) is read per variant:
a long script there delays every call queued behind it.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

_BENCH = Path(__file__).resolve().parent
for _path in (_BENCH, _BENCH.parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import redis  # noqa: E402
from harness import (  # noqa: E402
    BenchError,
    Phones,
    WaitTimeout,
    calibration_ms,
    procfile_worker,
    start_sandbox,
)
from scenarios import Context, WebLoad, describe_under_load, run_ours  # noqa: E402

from worker.dev.devstack import Stack  # noqa: E402
from worker.store.scripts import registered  # noqa: E402

SLOWLOG_US = 250


def variants(seconds: float) -> dict[str, WebLoad]:
    return {
        "both": WebLoad(seconds),
        "verify only": WebLoad(seconds, requests_per_s=0),
        "request only": WebLoad(seconds, verifies_per_s=0),
        "both, no backlog": WebLoad(seconds, backlog=False),
    }


def slow_commands(
    client: redis.Redis, scripts: dict[str, str], window: list[float]
) -> dict[str, Any]:
    """Redis's slow log within ``window`` (epoch s), by command (scripts by name): count, max."""
    by: dict[str, list[int]] = collections.defaultdict(list)
    for entry in client.slowlog_get(1024):
        if not window[0] - 1 <= entry["start_time"] <= window[1]:
            continue
        words = [w.decode() if isinstance(w, bytes) else str(w) for w in entry["command"].split()]
        name = words[0].upper() if words else "?"
        if name == "EVALSHA" and len(words) > 1:
            name = f"script {scripts.get(words[1], words[1][:8])}"
        by[name].append(int(entry["duration"]))
    return {k: {"count": len(v), "max_us": max(v)} for k, v in sorted(by.items())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="each variant's window")
    parser.add_argument("--latency-ms", type=float, default=200.0, help="the sandbox's")
    parser.add_argument("--n", type=int, default=1200, help="verifications sent before each")
    parser.add_argument(
        "--redis-nice",
        type=int,
        metavar="N",
        help="run Redis at this nice level (below 0 needs root): does a Redis that keeps its core"
        " answer the web app sooner?",
    )
    parser.add_argument("--json", type=Path, metavar="FILE")
    args = parser.parse_args()
    stack = Stack()
    logs = Path(tempfile.mkdtemp(prefix="targetsms-under-load-"))
    out: dict[str, Any] = {"calibration_ms": [calibration_ms()]}
    try:
        redis_url = stack.start_redis()  # private: its slow log is changed here
        client = redis.Redis.from_url(redis_url)
        client.config_set("slowlog-log-slower-than", SLOWLOG_US)
        client.config_set("slowlog-max-len", 1024)
        scripts = {script.sha: name for name, script in registered(client).items()}
        redis_pid = next(p.pid for name, p in stack.processes if name == "redis")
        if args.redis_nice is not None:
            try:
                for thread in Path(f"/proc/{redis_pid}/task").iterdir():  # nice is per thread
                    os.setpriority(os.PRIO_PROCESS, int(thread.name), args.redis_nice)
            except PermissionError:
                raise BenchError(f"--redis-nice {args.redis_nice}: below 0 needs root") from None
            out["redis_nice"] = args.redis_nice
        sandbox = start_sandbox(stack, logs, args.latency_ms)
        ctx = Context(stack, logs, redis_url, redis_pid, Phones(), procfile_worker())
        for label, load in variants(args.seconds).items():
            client.slowlog_reset()
            result = run_ours(ctx, sandbox, 1, args.n, settle=False, web=load)
            figures = result.extra["under_load"]
            figures["redis_slow"] = slow_commands(client, scripts, figures["window_epoch_s"])
            out[label] = figures
            print(describe_under_load(label, figures))
            print(f"  Redis commands over {SLOWLOG_US} us: {figures['redis_slow']}", flush=True)
        out["calibration_ms"].append(calibration_ms())
        print(f"machine speed (calibration_ms): {out['calibration_ms']}")
        if args.json:
            args.json.write_text(json.dumps(out, indent=2) + "\n")
    except (BenchError, WaitTimeout) as exc:
        print(f"under_load: error: {exc} (logs in {logs})", file=sys.stderr)
        return 1
    finally:
        stack.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
