"""Pushed statuses vs polling: ``state`` requests per message and time from request to deliver.

    .venv/bin/python bench/push.py [--n 200] [--deliver-after-ms 2000] [--json FILE]

Starts a private Redis, the sandbox gateway (its statuses turn ``deliver`` after
``--deliver-after-ms``), one ``celery -A worker worker`` (threads) and, for the push run, a
``targetsms push-receiver`` process registered with ``targetsms push-register``. Then, once with
polling (the default settings: first poll after 5 s, backoff to 20 s) and once with
``TARGETSMS_PUSH=1``, it requests N codes at once and waits until every record says ``deliver``.
Delivery time is measured on Redis's clock, from the record's ``queued`` event to its ``status``
event. Every child process is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from worker import get_status, request_code  # noqa: E402
from worker.dev.devstack import Stack, celery_argv, wait_until  # noqa: E402
from worker.dev.sandbox import SandboxConfig, start_in_thread  # noqa: E402
from worker.runtime import Runtime, set_runtime  # noqa: E402
from worker.settings import Settings  # noqa: E402

LOGIN, PASSWORD = "bench", "bench-password"


def settings_for(redis_url: str, sandbox_url: str, push: bool, token: str) -> Settings:
    return Settings().replace(
        REDIS_URL=redis_url,
        OTP_REDIS_PREFIX=f"b{secrets.token_hex(4)}:",
        TARGETSMS_URL=f"{sandbox_url}/password_generation/api.php",
        TARGETSMS_STATE_URL=f"{sandbox_url}/xml/state.php",
        TARGETSMS_LOGIN=LOGIN,
        TARGETSMS_PASSWORD=PASSWORD,
        TARGETSMS_SENDER="target",
        OTP_SERVICE_NAME="BenchShop",
        OTP_SECRET_KEY=secrets.token_urlsafe(32),
        OTP_PREFIX_MAX_PER_HOUR=10**6,
        OTP_PUMPING_MIN_SENDS=10**6,
        OTP_MAX_SMS_PER_HOUR=10**6,
        OTP_MAX_SMS_PER_DAY=10**6,
        TARGETSMS_PUSH=push,
        TARGETSMS_PUSH_TOKEN=token,
    )


def one_run(
    logs: Path, redis_url: str, n: int, deliver_after_ms: float, push: bool
) -> dict[str, Any]:
    stack = Stack()
    sandbox = start_in_thread(
        SandboxConfig(login=LOGIN, password=PASSWORD, deliver_after_ms=deliver_after_ms, seed=1)
    )
    token = secrets.token_urlsafe(32)
    settings = settings_for(redis_url, sandbox.url, push, token)
    env = {**os.environ, **settings.to_env(), "PYTHONUNBUFFERED": "1"}
    mode = "push" if push else "poll"
    try:
        if push:
            log = logs / "receiver.log"
            stack.spawn(
                "receiver",
                [sys.executable, "-m", "worker.ops.cli", "push-receiver", "--port", "0"],
                env,
                log,
            )
            banner = wait_until(
                lambda: re.search(r"listening on (http://\S+)", log.read_text()), 30, "receiver"
            )
            rt0 = Runtime.from_settings(settings)
            rt0.provider.set_push_url(f"{banner.group(1)}/targetsms/state/{token}")
            rt0.close()
        worker_log = logs / f"worker-{mode}.log"
        argv = celery_argv(
            "worker", "--pool", "threads", "--concurrency", "16", "--without-mingle",
            "--without-gossip", "--loglevel", "INFO", "--hostname", f"bench-{mode}@%h",
        )  # fmt: skip
        stack.spawn(f"worker-{mode}", argv, env, worker_log)
        wait_until(lambda: " ready." in worker_log.read_text(), 60, "worker")
        rt = Runtime.from_settings(settings)
        ids = [request_code(f"+7900{i:07d}", runtime=rt).id for i in range(n)]

        def done() -> bool:
            return all(get_status(i, runtime=rt).delivery_status == "deliver" for i in ids)

        wait_until(done, 180, f"{mode}: every record delivered")
        times = []
        for i in ids:
            history = {h["event"]: h["at"] for h in get_status(i, runtime=rt).history}
            times.append((history["status"] - history["queued"]) / 1000)
        stats = dict(sandbox_stats(sandbox.url))
        times.sort()
        return {
            "mode": mode,
            "messages": n,
            "state_requests": stats.get("state", 0),
            "state_requests_per_message": round(stats.get("state", 0) / n, 3),
            "push_posts": stats.get("push_posts", 0),
            "deliver_p50_s": round(statistics.median(times), 2),
            "deliver_p99_s": round(times[min(len(times) - 1, int(len(times) * 0.99))], 2),
        }
    finally:
        stack.close()
        sandbox.stop()


def sandbox_stats(url: str) -> dict[str, int]:
    import requests

    response = requests.get(f"{url}/sandbox/stats", timeout=5)
    response.raise_for_status()
    stats: dict[str, int] = response.json()
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="codes requested per run")
    parser.add_argument("--deliver-after-ms", type=float, default=2000.0)
    parser.add_argument("--json", type=Path, metavar="FILE")
    args = parser.parse_args(argv)
    results = []
    redis_stack = Stack()
    try:
        # One Redis for both runs (fresh key prefixes): the producer's broker connection stays.
        redis_url = redis_stack.start_redis()
        base = settings_for(redis_url, "http://127.0.0.1:9", False, "")
        set_runtime(Runtime.from_settings(base))
        with tempfile.TemporaryDirectory(prefix="bench-push-") as tmp:
            for push in (False, True):
                results.append(one_run(Path(tmp), redis_url, args.n, args.deliver_after_ms, push))
    finally:
        set_runtime(None)
        redis_stack.close()
    print(f"{'mode':<6}{'state req/msg':>15}{'push POSTs':>12}{'deliver p50':>13}{'p99':>8}")
    for r in results:
        print(
            f"{r['mode']:<6}{r['state_requests_per_message']:>15}{r['push_posts']:>12}"
            f"{r['deliver_p50_s']:>12}s{r['deliver_p99_s']:>7}s"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
