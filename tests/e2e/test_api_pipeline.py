"""The whole path through the HTTP API: a real loopback API, Redis, a Celery worker, the
sandbox gateway and `targetsms webhook-relay` as its own process (as the Procfile runs it);
the site's webhook endpoint is a real loopback server too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest
import requests
from api_helpers import make_key, serving_api
from helpers import Sandbox, WorkerProcess, wait_until
from standardwebhooks import Webhook, WebhookVerificationError
from webhook_receiver import Received, receiving_webhooks

from worker.runtime import Runtime
from worker.settings import Settings

PHONE = "+79161112244"
IP = "198.51.100.20"


@pytest.fixture
def hooks() -> Iterator[Received]:
    with receiving_webhooks() as received:
        yield received


@pytest.fixture
def relay(settings: Settings) -> Iterator[None]:
    """`targetsms webhook-relay`, stopped by SIGTERM as a process manager stops it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker.ops.cli", "webhook-relay"],
        env={**os.environ, **settings.to_env(), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("webhook relay running")
    yield
    proc.terminate()
    assert proc.wait(15) == 0


def _post(url: str, key: str, body: dict[str, str]) -> requests.Response:
    return requests.post(url, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=10)


def test_request_sms_check_ok_with_the_phone_and_signed_webhooks(
    runtime: Runtime,
    settings: Settings,
    sandbox: Sandbox,
    start_worker: Callable[..., WorkerProcess],
    hooks: Received,
    relay: None,
) -> None:
    start_worker(settings, concurrency=4)
    key, secret = make_key(runtime, "shop", webhook_url=hooks.url)
    assert secret is not None
    with serving_api(runtime) as api:
        made = _post(f"{api}/v1/verifications", key, {"phone": "8 916 111-22-44", "client_ip": IP})
        assert made.status_code == 201, made.text
        vid = made.json()["id"]
        code = wait_until(lambda: sandbox.outbox(PHONE) and sandbox.last_code(PHONE), timeout=30)
        wait_until(lambda: "verification.sent" in hooks.types(), timeout=30)
        wrong = _post(
            f"{api}/v1/verifications/{vid}/check",
            key,
            {"code": "000000" if code != "000000" else "111111", "client_ip": IP},
        )
        assert wrong.json()["ok"] is False and wrong.json()["phone"] is None
        ok = _post(f"{api}/v1/verifications/{vid}/check", key, {"code": code, "client_ip": IP})
    assert ok.status_code == 200
    assert ok.json() == {
        "ok": True,
        "reason": "ok",
        "attempts_left": ok.json()["attempts_left"],
        "retry_after": None,
        "phone": PHONE,
    }
    wait_until(lambda: "verification.verified" in hooks.types(), timeout=30)
    verifier = Webhook(secret)
    for headers, body in hooks.posts:
        event = verifier.verify(body, headers)
        assert event["data"]["id"] == vid
        assert code not in body.decode() and PHONE[1:] not in body.decode()
        assert headers["webhook-id"].startswith("msg_")
    # The same body with a signature made under another secret is refused. (Deliveries are
    # tasks of their own: the delivery status may well arrive after the verification.)
    headers, body = next(
        (h, b) for h, b in hooks.posts if json.loads(b)["type"] == "verification.verified"
    )
    forged = Webhook("whsec_" + "A" * 43 + "=").sign(
        headers["webhook-id"], _at(headers), body.decode()
    )
    with pytest.raises(WebhookVerificationError):
        verifier.verify(body, {**headers, "webhook-signature": forged})
    assert verifier.verify(body, headers)["data"]["state"] == "verified"


def _at(headers: dict[str, str]) -> object:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)


def test_a_receiver_that_fails_is_retried_until_it_answers(
    runtime: Runtime,
    settings: Settings,
    start_worker: Callable[..., WorkerProcess],
    hooks: Received,
    relay: None,
) -> None:
    hooks.answer = 503
    start_worker(settings, concurrency=4)
    key, _ = make_key(runtime, "shop", webhook_url=hooks.url)
    with serving_api(runtime) as api:
        made = _post(f"{api}/v1/verifications", key, {"phone": PHONE, "client_ip": IP}).json()
        _post(f"{api}/v1/verifications/{made['id']}/cancel", key, {})
    wait_until(lambda: "verification.canceled" in hooks.types(), timeout=30)
    hooks.answer = 204

    def retried() -> bool:
        """Some message was posted twice under one id: receivers dedupe by it."""
        ids = [headers["webhook-id"] for headers, _ in hooks.posts]
        return len(set(ids)) < len(ids)

    wait_until(retried, timeout=60, what="a retry, after its backoff, under the same id")
