"""Sends while workers are SIGKILLed at random moments, with the gateway's one-minute rule on.

    .venv/bin/python bench/crash_run.py [--sends 300] [--workers 2] [--rate 10]
        [--latency-ms 1500] [--kill-every 3 8] [--seed N] [--json FILE]

Starts a private Redis (or uses BENCH_REDIS_URL), the sandbox gateway with its duplicate-request
window (60 s, as the platform) and ``--latency-ms`` before each answer (the request is accepted
first, so a kill in that time leaves an SMS out and no code stored), and ``--workers`` Celery
workers as the Procfile runs them, with production settings (Redis broker, 30 s visibility
timeout, 90 s send deadline). ``request_code`` is paced at ``--rate`` per second; meanwhile a
random worker is SIGKILLed every ``--kill-every`` seconds (uniform) and replaced at once, until
the last request plus 10 s. Then it waits for every verification to leave queued/sending and
reports: final states and error codes, the lost ones (still queued/sending once every deadline
has passed), the SMS per verification, whether every sent verification verifies with the code
of its last SMS, and the delay from the request to the second SMS, the wait a user sees when a
kill lost the first SMS's code. Exit status: 0 when the run finished with nothing lost or
failed, 2 when it finished with some, 1 when something could not start, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime
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
    bench_settings,
    percentile,
    procfile_worker,
    record_fields,
    start_sandbox,
    stop_process,
)
from scenarios import Context, produce, purge_queues, start_workers  # noqa: E402

from worker import verify_code  # noqa: E402
from worker.dev.devstack import Stack, wait_until  # noqa: E402
from worker.runtime import Runtime, set_runtime  # noqa: E402
from worker.settings import Settings  # noqa: E402

UNFINISHED = ("queued", "sending")


class Killer(threading.Thread):
    """SIGKILLs a random worker every ``every`` seconds and starts a replacement at once."""

    def __init__(
        self, ctx: Context, settings: Settings, workers: list[subprocess.Popen[bytes]],
        every: tuple[float, float], rng: random.Random,
    ) -> None:  # fmt: skip
        super().__init__(daemon=True)
        self.ctx, self.settings, self.workers = ctx, settings, workers
        self.every, self.rng = every, rng
        self.until = float("inf")
        self.kills: list[float] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.rng.uniform(*self.every)):
            if time.time() >= self.until:
                return
            victim = self.workers.pop(self.rng.randrange(len(self.workers)))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(victim.pid, signal.SIGKILL)
            victim.wait(10)
            self.kills.append(time.time())
            tag = f"r{len(self.kills)}"
            self.workers.extend(p for p, _ in start_workers(self.ctx, self.settings, 1, tag))


def _outbox(sandbox: Sandbox) -> dict[str, list[dict[str, Any]]]:
    """Phone -> the SMS the sandbox sent to it, oldest first."""
    response = sandbox.http.get(f"{sandbox.url}/sandbox/outbox", timeout=30)
    response.raise_for_status()
    by_phone: dict[str, list[dict[str, Any]]] = {}
    for message in response.json()["messages"]:
        message["at"] = datetime.fromisoformat(message["sent_at"]).timestamp()
        by_phone.setdefault(message["phone"], []).append(message)
    for messages in by_phone.values():
        messages.sort(key=lambda m: m["at"])
    return by_phone


def _spread(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        **{f"p{q}": round(percentile(values, q), 1) for q in (50, 90, 99)},
        "max": round(max(values), 1),
    }


def crash_run(stack: Stack, logs: Path, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    worker = procfile_worker()
    redis_url = bench_redis(stack)
    sandbox = start_sandbox(stack, logs, args.latency_ms)  # the duplicate window is on
    ctx = Context(stack, logs, redis_url, None, Phones(), worker)
    settings = bench_settings(redis_url, sandbox)
    rt = Runtime.from_settings(settings)
    set_runtime(rt)
    workers = [p for p, _ in start_workers(ctx, settings, args.workers, "w")]
    killer = Killer(ctx, settings, workers, tuple(args.kill_every), rng)
    phones = ctx.phones.take(args.sends)
    try:
        killer.start()
        ids, _, wall = produce(rt, phones, threads=4, rate=args.rate)
        killer.until = time.time() + 10
        print(f"  {len(ids)} requested in {wall:.0f} s; killing until 10 s after", file=sys.stderr)
        killer.join()
        deadline = settings.codes.send_deadline_seconds
        with contextlib.suppress(WaitTimeout):
            wait_until(
                lambda: not any(s in UNFINISHED for s in record_fields(settings, ids, "state")),
                deadline + settings.visibility_timeout + 60,
                "every send to finish",
                interval=1.0,
            )
        records = {vid: rt.store.load(vid)[0] for vid in ids}
        asked = {vid: int(r["requested_at"]) / 1000 for vid, r in records.items() if r}
        outbox = _outbox(sandbox)
        states = Counter(r.get("state", "missing") for r in records.values())
        errors = Counter(r["error_code"] for r in records.values() if r.get("state") == "failed")
        verified, wrong = 0, 0
        second_sms, last_sms, sms_counts = [], [], Counter[int]()
        for vid, phone in zip(ids, phones, strict=True):
            sms = outbox.get(phone, [])
            sms_counts[len(sms)] += 1
            if len(sms) >= 2:
                second_sms.append(sms[1]["at"] - asked[vid])
            if records[vid].get("state") == "sent" and sms:
                last_sms.append(sms[-1]["at"] - asked[vid])
                if verify_code(vid, str(sms[-1]["code"]), runtime=rt).ok:
                    verified += 1
                else:
                    wrong += 1
        return {
            "sends": len(ids),
            "workers": args.workers,
            "worker_command": worker.describe(),
            "rate_per_s": args.rate,
            "gateway_latency_ms": args.latency_ms,
            "kills": len(killer.kills),
            "states": dict(states),
            "failed_by_code": dict(errors),
            "lost": sum(states[s] for s in (*UNFINISHED, "missing")),
            "sms_per_verification": {str(k): v for k, v in sorted(sms_counts.items())},
            "sent_verified_with_last_code": verified,
            "sent_not_verified_with_last_code": wrong,
            "request_to_second_sms_s": _spread(second_sms),
            "request_to_last_sms_s": _spread(last_sms),
        }
    finally:
        killer.stopped.set()
        killer.join(15)
        for proc in list(workers):
            stop_process(stack, proc)
        purge_queues()
        rt.close()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sends", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=10.0, help="requests per second")
    parser.add_argument("--latency-ms", type=float, default=1500.0)
    parser.add_argument("--kill-every", type=float, nargs=2, default=(3.0, 8.0), metavar="S")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args(argv)
    if args.sends < 1 or args.workers < 1 or args.rate <= 0 or min(args.kill_every) <= 0:
        parser.error("--sends, --workers, --rate and --kill-every must be positive")
    logs = Path(tempfile.mkdtemp(prefix="crash-run-"))
    signal.signal(signal.SIGTERM, _interrupt)
    stack = Stack()
    status, message = 1, ""
    try:
        summary = crash_run(stack, logs, args)
        print(json.dumps(summary, indent=2, ensure_ascii=False))
        if args.json:
            args.json.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
        clean = not summary["lost"] and not summary["failed_by_code"]
        status = 0 if clean else 2
        message = "" if clean else "crash run: some sends were lost or failed"
    except KeyboardInterrupt:
        status, message = 130, f"crash run: interrupted (logs in {logs})"
    except (BenchError, WaitTimeout) as exc:
        message = f"crash run: error: {exc} (logs in {logs})"
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        logging.disable(logging.CRITICAL)
        stack.close()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if status in (0, 2) and not args.keep_logs:
            shutil.rmtree(logs, ignore_errors=True)
    if message:
        print(message, file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
