"""The HTTP API's cost: create and check through `targetsms api` vs the direct Python call.

    .venv/bin/python bench/api.py [--n 500] [--json FILE]

Starts a private Redis and one `targetsms api` process (waitress, the production server), makes
a key, then for each of create (`POST /v1/verifications` / `request_code`) and check
(`POST /v1/verifications/{id}/check` / `verify_code`) times N sequential calls from one client
over a kept-alive connection, and N direct calls in this process. Sends are queued on the
Redis broker; no worker runs, so every check meets a queued record (`not_sent_yet`), which goes
through the same Lua step as any other check. Figures: requests/s, p50 and p99 in ms, and the
API's added p99.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import requests  # noqa: E402

from worker import request_code, verify_code  # noqa: E402
from worker.dev.devstack import start_redis, wait_until  # noqa: E402
from worker.runtime import Runtime, set_runtime  # noqa: E402
from worker.settings import Settings  # noqa: E402

IP = "203.0.113.10"


def settings_for(redis_url: str) -> Settings:
    many = 10**6
    return Settings().replace(
        REDIS_URL=redis_url,
        OTP_REDIS_PREFIX=f"b{secrets.token_hex(4)}:",
        TARGETSMS_LOGIN="bench",
        TARGETSMS_PASSWORD="bench-password",
        TARGETSMS_SENDER="target",
        OTP_SERVICE_NAME="BenchShop",
        OTP_SECRET_KEY=secrets.token_urlsafe(32),
        OTP_RESEND_COOLDOWN_SECONDS=0,
        OTP_PHONE_MAX_PER_HOUR=many,
        OTP_PHONE_MAX_PER_DAY=many,
        OTP_IP_MAX_PER_HOUR=many,
        OTP_IP_MAX_PER_DAY=many,
        OTP_PREFIX_MAX_PER_HOUR=many,
        OTP_PUMPING_MIN_SENDS=many,
        OTP_MAX_SMS_PER_HOUR=many,
        OTP_MAX_SMS_PER_DAY=many,
        OTP_VERIFY_MAX_PER_IP_PER_HOUR=many,
        OTP_VERIFY_MAX_PER_PHONE_PER_HOUR=many,
    )


def phone(i: int) -> str:
    return f"+7916{i:07d}"


def timed(n: int, call: Callable[[int], Any]) -> dict[str, float]:
    samples = []
    started = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        call(i)
        samples.append((time.perf_counter() - t) * 1000)
    wall = time.perf_counter() - started
    samples.sort()
    return {
        "rps": round(n / wall, 1),
        "p50_ms": round(statistics.median(samples), 2),
        "p99_ms": round(samples[min(n - 1, int(n * 0.99))], 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    redis_url, redis_proc, tmp = start_redis()
    settings = settings_for(redis_url)
    env = {**os.environ, **settings.to_env(), "PYTHONUNBUFFERED": "1"}
    cli = [sys.executable, "-m", "worker.ops.cli"]
    api = None
    try:
        rt = Runtime.from_settings(settings)
        set_runtime(rt)
        made = subprocess.run([*cli, "api-key", "create", "bench", "--max-per-hour", "0",
                               "--max-per-day", "0"], env=env, capture_output=True, text=True,
                              check=True)  # fmt: skip
        key = json.loads(made.stdout)["key"]
        api = subprocess.Popen([*cli, "api", "--port", "0"], env=env, stdout=subprocess.PIPE,
                               text=True)  # fmt: skip
        assert api.stdout is not None
        url = api.stdout.readline().split(" on ", 1)[1].split(" ", 1)[0]
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {key}"
        wait_until(lambda: session.get(f"{url}/openapi.json", timeout=5).ok)
        n = args.n
        ids: list[str] = []

        def api_create(i: int) -> None:
            r = session.post(f"{url}/v1/verifications",
                             json={"phone": phone(i), "client_ip": IP}, timeout=10)  # fmt: skip
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])

        def api_check(i: int) -> None:
            r = session.post(f"{url}/v1/verifications/{ids[i]}/check",
                             json={"code": "123456", "client_ip": IP}, timeout=10)  # fmt: skip
            assert r.status_code == 200, r.text

        direct_ids: list[str] = []

        def py_create(i: int) -> None:
            direct_ids.append(request_code(phone(n + i), client_ip=IP, runtime=rt).id)

        def py_check(i: int) -> None:
            verify_code(direct_ids[i], "123456", client_ip=IP, runtime=rt)

        # Warm both paths (connections, scripts loaded) before measuring.
        for i in range(20):
            request_code(phone(3 * n + i), client_ip=IP, runtime=rt)
            session.post(f"{url}/v1/verifications",
                         json={"phone": phone(4 * n + i), "client_ip": IP}, timeout=10)  # fmt: skip
        out = {
            "n": n,
            "create": {"api": timed(n, api_create), "python": timed(n, py_create)},
            "check": {"api": timed(n, api_check), "python": timed(n, py_check)},
        }
        for op in ("create", "check"):
            out[op]["added_p99_ms"] = round(
                out[op]["api"]["p99_ms"] - out[op]["python"]["p99_ms"], 2
            )
            out[op]["added_p50_ms"] = round(
                out[op]["api"]["p50_ms"] - out[op]["python"]["p50_ms"], 2
            )
        print(json.dumps(out, indent=2))
        if args.json:
            args.json.write_text(json.dumps(out, indent=2))
        return 0
    finally:
        if api is not None:
            api.terminate()
            api.wait(15)
        set_runtime(None)
        redis_proc.terminate()
        redis_proc.wait(10)
        tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
