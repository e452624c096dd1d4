"""``targetsms demo``: the whole stack on one machine and one verification, end to end.

Redis (the one at REDIS_URL, else a private one), the sandbox gateway, a worker and Flower run
as child processes; the demo then requests a code, reads the SMS from the sandbox outbox as a
phone would, verifies it and follows its delivery. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from worker.core.endpoint import endpoint
from worker.dev.devstack import Stack, celery_argv, free_port, python, redis_answers, wait_until

__all__ = ["run_demo"]


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback sandbox
        return json.load(response)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310
            return bool(response.status == 200)
    except OSError:
        return False


def demo_env(redis_url: str, gateway_url: str) -> dict[str, str]:
    """Settings for a stack that talks to the sandbox: nothing here can send a real SMS."""
    env = dict(os.environ)
    env.update(
        {
            "REDIS_URL": redis_url,
            "TARGETSMS_URL": f"{gateway_url}/password_generation/api.php",
            "TARGETSMS_STATE_URL": f"{gateway_url}/xml/state.php",
            "TARGETSMS_LOGIN": "demo",
            "TARGETSMS_PASSWORD": secrets.token_urlsafe(12),
            "TARGETSMS_SENDER": "target",
            "OTP_SERVICE_NAME": env.get("OTP_SERVICE_NAME", "DemoShop"),
            "OTP_SECRET_KEY": secrets.token_urlsafe(32),
            # Flower refuses a missing or guessable password: the demo makes its own.
            "FLOWER_BASIC_AUTH": f"demo:{secrets.token_urlsafe(32)}",
            "OTP_POLL_FIRST_DELAY_SECONDS": "1",
            "OTP_REDIS_PREFIX": f"demo{secrets.token_hex(3)}:",
        }
    )
    env.pop("CELERY_BROKER_URL", None)
    return env


def run_demo(args: argparse.Namespace) -> int:
    stack = Stack()
    logs = Path(tempfile.mkdtemp(prefix="targetsms-demo-"))
    try:
        redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        if redis_answers(redis_url):
            _say(f"redis     using {endpoint(redis_url)}")  # no password from the URL
        else:
            redis_url = stack.start_redis()
            _say(f"redis     started a private one at {redis_url}")

        port = free_port()
        gateway = f"http://127.0.0.1:{port}"
        env = demo_env(redis_url, gateway)
        stack.spawn(
            "gateway",
            [
                # TARGETSMS_LOGIN / TARGETSMS_PASSWORD reach it through env, not argv.
                python(), "-m", "worker.dev.sandbox", "--port", str(port),
                "--deliver-after-ms", "1500",
            ],
            env,
            logs / "gateway.log",
        )  # fmt: skip
        wait_until(lambda: _answers(f"{gateway}/healthz"), 15, "sandbox gateway")
        _say(f"gateway   sandbox at {gateway} (outbox: {gateway}/sandbox/outbox)")

        stack.spawn(
            "worker",
            celery_argv(
                "worker", "--pool", "threads", "--concurrency", str(args.concurrency),
                "--loglevel", "INFO", "--hostname", f"demo-{port}@%h",
            ),
            env,
            logs / "worker.log",
        )  # fmt: skip
        stack.spawn(
            "flower",
            celery_argv("flower", f"--port={args.flower_port}", "--address=127.0.0.1"),
            env,
            logs / "flower.log",
        )
        _say(f"worker    celery -A worker worker --pool threads (log: {logs / 'worker.log'})")
        login = logs / "flower-login"
        login.touch(mode=0o600)
        login.write_text(env["FLOWER_BASIC_AUTH"] + "\n")
        _say(f"flower    http://127.0.0.1:{args.flower_port} (user:password in {login})")

        os.environ.update(env)
        from worker.api.producer import get_status, request_code, verify_code

        req = request_code(args.phone, client_ip="127.0.0.1")
        _say(f"request   verification {req.id} queued for {args.phone}")
        deadline = time.monotonic() + 60
        status = get_status(req.id)
        while status.state in ("queued", "sending") and time.monotonic() < deadline:
            time.sleep(0.1)
            status = get_status(req.id)
        if status.state != "sent":
            _say(f"FAILED    the code was not sent: state={status.state} error={status.error}")
            return 1
        _say(f"sent      id_sms={status.id_sms} delivery_status={status.delivery_status}")

        query = urllib.parse.urlencode({"phone": args.phone})
        messages = _get_json(f"{gateway}/sandbox/outbox?{query}")["messages"]
        sms = messages[-1]
        _say(f"sms       the phone received: {sms['text']!r}")
        result = verify_code(req.id, sms["code"])
        _say(f"verify    ok={result.ok} reason={result.reason}")
        if not result.ok:
            return 1
        wait_until(
            lambda: get_status(req.id).delivery_status not in (None, "send"), 30, "delivery report"
        )
        status = get_status(req.id)
        _say(f"delivery  {status.delivery_status} (polled by the worker)")
        _say(f"history   {[h['event'] for h in status.history]}")
        _say("demo      OK: request -> SMS in the sandbox outbox -> verify ok")
        if args.once:
            return 0
        _say(f"\nFlower is at http://127.0.0.1:{args.flower_port}. Ctrl-C stops everything.")
        while all(proc.poll() is None for _, proc in stack.processes):
            time.sleep(0.5)
        dead = [name for name, proc in stack.processes if proc.poll() is not None]
        _say(f"stopped: {', '.join(dead)} exited (logs in {logs})")
        return 1
    except KeyboardInterrupt:
        _say("\nstopping...")
        return 0
    except RuntimeError as exc:
        _say(f"FAILED    {exc} (logs in {logs})")
        return 1
    finally:
        stack.close()
