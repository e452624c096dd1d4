"""The HTTP API's cost: create and check through `targetsms api` vs the direct Python call.

    .venv/bin/python bench/api.py [--n 500] [--rounds 3] [--relay-thread] [--json FILE]

Starts a private Redis and one `targetsms api --no-relay` process (waitress, the production
server, as the Procfile runs it; `--relay-thread` runs plain `targetsms api`, whose webhook
relay shares the process), makes a key, then for each of create (`POST /v1/verifications` /
`request_code`) and check (`POST /v1/verifications/{id}/check` / `verify_code`) makes N calls
through the API and N direct calls in this process, interleaved one by one (which goes first
alternates), so that both see the same moment of a shared machine. Sends are queued on the
Redis broker; no worker runs, so every check meets a queued record (`not_sent_yet`), which goes
through the same Lua step as any other check.

The client is `http.client` on one kept-alive connection (checked: a second connection is an
error), not `requests`, whose per-call work (proxy lookup in the environment, hooks, cookie
jars) would be counted as the API's: a PHP site calls through curl, in C.

Figures per round and side: requests/s (calls per second of that side's own time), p50 and p99
in ms, `cpu_ms` (this process's CPU per call: the client's for the API side, the whole call's
for the direct one), and what the API adds (API minus direct at p50 and at p99); then the
median of the rounds; the load average before and after; and `api_cpu_ms_per_request`, the
API process's own CPU (user + system) per request.
"""

from __future__ import annotations

import argparse
import http.client
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
from urllib.parse import urlsplit

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

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


class Client:
    """JSON POSTs over one kept-alive HTTP/1.1 connection, as a site's curl handle makes them."""

    def __init__(self, url: str, key: str) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port)
        self.conn.connect()
        self.sock = self.conn.sock
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def post(self, path: str, body: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.conn.request("POST", path, json.dumps(body).encode(), self.headers)
        answer = self.conn.getresponse()
        data = json.loads(answer.read())
        if self.conn.sock is not self.sock:
            raise RuntimeError("the API closed the kept-alive connection")
        return answer.status, data

    def close(self) -> None:
        self.conn.close()


def figures(samples: list[float], wall: float) -> dict[str, float]:
    samples = sorted(samples)
    n = len(samples)
    return {
        "rps": round(n / wall, 1),
        "p50_ms": round(statistics.median(samples), 2),
        "p99_ms": round(samples[min(n - 1, int(n * 0.99))], 2),
    }


def interleaved(n: int, api: Callable[[int], Any], py: Callable[[int], Any]) -> dict[str, Any]:
    """N calls of each, alternating which goes first; each side's own wall time for its rps."""
    times: dict[str, list[float]] = {"api": [], "python": []}
    cpu = {"api": 0.0, "python": 0.0}
    calls = {"api": api, "python": py}
    for i in range(n):
        for side in ("api", "python") if i % 2 == 0 else ("python", "api"):
            c, t = time.process_time(), time.perf_counter()
            calls[side](i)
            times[side].append((time.perf_counter() - t) * 1000)
            cpu[side] += time.process_time() - c
    out: dict[str, Any] = {s: figures(v, sum(v) / 1000) for s, v in times.items()}
    for side in ("api", "python"):  # this process: the client's, or the whole direct call's
        out[side]["cpu_ms"] = round(cpu[side] * 1000 / n, 3)
    for q in ("p50", "p99"):
        out[f"added_{q}_ms"] = round(out["api"][f"{q}_ms"] - out["python"][f"{q}_ms"], 2)
    return out


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def median_of(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for op in ("create", "check"):
        out[op] = {}
        for side in ("api", "python"):
            names = rounds[0][op][side]
            out[op][side] = {
                f: round(statistics.median(r[op][side][f] for r in rounds), 3) for f in names
            }
        for f in ("added_p50_ms", "added_p99_ms"):
            out[op][f] = round(statistics.median(r[op][f] for r in rounds), 3)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=500, help="calls of each kind per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--relay-thread",
        action="store_true",
        help="plain `targetsms api`: its webhook relay runs in the API process",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    redis_url, redis_proc, tmp = start_redis()
    settings = settings_for(redis_url)
    env = {**os.environ, **settings.to_env(), "PYTHONUNBUFFERED": "1"}
    cli = [sys.executable, "-m", "worker.ops.cli"]
    api = None
    client = None
    try:
        rt = Runtime.from_settings(settings)
        set_runtime(rt)
        made = subprocess.run([*cli, "api-key", "create", "bench", "--max-per-hour", "0",
                               "--max-per-day", "0"], env=env, capture_output=True, text=True,
                              check=True)  # fmt: skip
        key = json.loads(made.stdout)["key"]
        serve = [*cli, "api", "--port", "0", *([] if args.relay_thread else ["--no-relay"])]
        api = subprocess.Popen(serve, env=env, stdout=subprocess.PIPE, text=True)
        assert api.stdout is not None
        url = api.stdout.readline().split(" on ", 1)[1].split(" ", 1)[0]
        wait_until(lambda: _answers(url))
        client = Client(url, key)
        n = args.n
        serial = iter(range(10**9))

        def phone() -> str:
            return f"+7916{next(serial):07d}"

        api_ids: list[str] = []
        py_ids: list[str] = []

        def api_create(i: int) -> None:
            status, body = client.post("/v1/verifications", {"phone": phone(), "client_ip": IP})
            assert status == 201, body
            api_ids.append(body["id"])

        def py_create(i: int) -> None:
            py_ids.append(request_code(phone(), client_ip=IP, runtime=rt).id)

        def api_check(i: int) -> None:
            path = f"/v1/verifications/{api_ids[i]}/check"
            status, body = client.post(path, {"code": "123456", "client_ip": IP})
            assert status == 200, body

        def py_check(i: int) -> None:
            verify_code(py_ids[i], "123456", client_ip=IP, runtime=rt)

        # Warm both paths (connections, scripts loaded, the broker's producer) first.
        for i in range(20):
            api_create(i)
            py_create(i)
            api_check(i)
            py_check(i)
        load_before = os.getloadavg()
        cpu_before = cpu_seconds(api.pid)
        rounds = []
        for _ in range(args.rounds):
            api_ids.clear()
            py_ids.clear()
            create = interleaved(n, api_create, py_create)
            rounds.append({"create": create, "check": interleaved(n, api_check, py_check)})
        api_cpu = cpu_seconds(api.pid) - cpu_before
        out = {
            "n": n,
            "server": " ".join(serve[2:]),
            "client": "http.client, one kept-alive connection",
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "api_cpu_ms_per_request": round(api_cpu * 1000 / (2 * n * args.rounds), 3),
            "median": median_of(rounds),
            "rounds": rounds,
        }
        print(json.dumps(out, indent=2))
        if args.json:
            args.json.write_text(json.dumps(out, indent=2))
        return 0
    finally:
        if client is not None:
            client.close()
        if api is not None:
            api.terminate()
            api.wait(15)
        set_runtime(None)
        redis_proc.terminate()
        redis_proc.wait(10)
        tmp.cleanup()


def _answers(url: str) -> bool:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=5)
    try:
        conn.request("GET", "/openapi.json")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
