"""clients/php/ run by Debian's php-cli against a live API, worker and sandbox gateway: request,
the SMS in the sandbox's outbox, check ok with the phone; a real webhook accepted, a forged one
refused. php-cli is installed by ./scripts/test (scripts/install-php) like Chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from api_helpers import make_key, serving_api
from helpers import Sandbox, WorkerProcess, wait_until
from webhook_receiver import Received, receiving_webhooks

from worker.runtime import Runtime
from worker.settings import Settings
from worker.steps.webhooks import run_relay

DRIVER = Path(__file__).parent / "php" / "driver.php"
PHONE = "+79161112266"
IP = "198.51.100.30"


@pytest.fixture
def php() -> str:
    path = shutil.which("php")
    ok = (
        path
        and subprocess.run(
            [path, "-r", "exit(function_exists('curl_init') ? 0 : 1);"], check=False
        ).returncode
        == 0
    )
    if not ok:
        if os.environ.get("CI"):
            pytest.fail("php-cli with php-curl is required in CI (scripts/install-php)")
        pytest.skip("needs php-cli and php-curl: run scripts/install-php as root")
    assert path
    return path


@pytest.fixture
def hooks(runtime: Runtime) -> Iterator[Received]:
    stop = threading.Event()
    relay = threading.Thread(target=run_relay, args=(runtime, "php", stop), daemon=True)
    relay.start()
    with receiving_webhooks() as received:
        yield received
    stop.set()
    relay.join(10)


def test_php_client_request_check_and_webhooks(
    php: str,
    runtime: Runtime,
    settings: Settings,
    sandbox: Sandbox,
    start_worker: Callable[..., WorkerProcess],
    hooks: Received,
) -> None:
    start_worker(settings, concurrency=4)
    key, secret = make_key(runtime, "wordpress", webhook_url=hooks.url)
    with serving_api(runtime) as api:

        def call(action: str, **args: Any) -> dict[str, Any]:
            out = subprocess.run(
                [php, str(DRIVER), action, json.dumps(args)],
                env={**os.environ, "API_URL": api, "API_KEY": key},
                capture_output=True, text=True, timeout=60, check=True,
            )  # fmt: skip
            assert out.stderr == "", out.stderr
            answer: dict[str, Any] = json.loads(out.stdout)
            return answer

        made = call("request", phone=PHONE, client_ip=IP)
        assert made["state"] == "queued"
        code = wait_until(lambda: sandbox.outbox(PHONE) and sandbox.last_code(PHONE), timeout=30)
        assert call("status", id=made["id"])["id"] == made["id"]
        assert call("check", id=made["id"], code=code, client_ip="not-an-ip")["status"] == 400
        result = call("check", id=made["id"], code=code, client_ip=IP)
        assert result["ok"] is True and result["phone"] == PHONE
        assert call("resend", id=made["id"], client_ip=IP)["status"] == 409
        assert call("cancel", id="nope")["status"] == 404

        wait_until(lambda: "verification.verified" in hooks.types(), timeout=30)
        # Each delivery is a task of its own: the delivery status may come after this one.
        headers, body = next(
            (h, b) for h, b in hooks.posts if json.loads(b)["type"] == "verification.verified"
        )
        real = call("webhook", secret=secret, body=body.decode(), headers=headers)
        assert real == {"accepted": True, "type": "verification.verified"}
        forged_body = body.decode().replace('"verified"', '"canceled"', 1)
        forged = call("webhook", secret=secret, body=forged_body, headers=headers)
        assert forged["accepted"] is False
        unsigned = call("webhook", secret=secret, body=body.decode(), headers={})
        assert unsigned["accepted"] is False
