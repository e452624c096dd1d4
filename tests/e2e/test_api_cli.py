"""`targetsms api-key ...` and `targetsms api` as an operator runs them (subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import requests
from helpers import wait_until

from worker.runtime import Runtime
from worker.settings import Settings


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **settings.to_env()}
    return subprocess.run(
        [sys.executable, "-m", "worker.ops.cli", *args],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_create_list_set_revoke(settings: Settings) -> None:
    made = _cli(settings, "api-key", "create", "shop", "--webhook", "https://shop.example/hook")
    assert made.returncode == 0, made.stderr
    out = json.loads(made.stdout)
    assert out["key"].startswith("tsk_") and out["webhook_secret"].startswith("whsec_")
    again = _cli(settings, "api-key", "create", "shop")
    assert again.returncode == 1 and "exists" in again.stderr
    listed = _cli(settings, "api-key", "list")
    assert out["key"] not in listed.stdout and out["webhook_secret"] not in listed.stdout
    assert json.loads(listed.stdout)["keys"][0]["webhook_url"] == "https://shop.example/hook"
    plain = _cli(settings, "api-key", "set", "shop", "--webhook", "http://shop.example/hook")
    assert plain.returncode == 1 and "https" in plain.stderr
    changed = _cli(settings, "api-key", "set", "shop", "--max-per-hour", "5", "--no-webhook")
    assert json.loads(changed.stdout)["max_per_hour"] == 5
    assert json.loads(changed.stdout)["webhook_url"] is None
    bad = _cli(settings, "api-key", "create", "Bad Name")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert _cli(settings, "api-key", "revoke", "shop").returncode == 0
    assert _cli(settings, "api-key", "revoke", "shop").returncode == 1


def _serving(settings: Settings, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, **settings.to_env(), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "worker.ops.cli", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _relays(settings: Settings) -> dict[str, int]:
    rt = Runtime.from_settings(settings)
    try:
        return rt.store.webhook_relays()
    finally:
        rt.close()


def test_targetsms_api_serves_with_a_created_key(settings: Settings) -> None:
    """Alone (development), `targetsms api` relays webhook events too, on a thread."""
    key = json.loads(_cli(settings, "api-key", "create", "shop").stdout)["key"]
    proc = _serving(settings, "api", "--port", "0")
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        url = banner.split(" on ", 1)[1].split(" ", 1)[0]
        assert wait_until(lambda: requests.get(f"{url}/openapi.json", timeout=5).ok)
        r = requests.post(
            f"{url}/v1/verifications",
            json={"phone": "+79161112277", "client_ip": "203.0.113.5"},
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        assert r.status_code == 201, r.text
        assert wait_until(lambda: any(name.startswith("api-") for name in _relays(settings)))
    finally:
        proc.terminate()
        proc.wait(15)
    assert proc.returncode == 0


def test_webhook_relay_runs_on_its_own_and_tells_a_healthcheck(settings: Settings) -> None:
    """The Procfile's pair: `targetsms api --no-relay` relays nothing; `targetsms
    webhook-relay` does, is healthy once it reads the stream, and stops cleanly on SIGTERM."""
    api = _serving(settings, "api", "--no-relay", "--port", "0")
    relay = None
    try:
        assert api.stdout is not None and " on http://" in api.stdout.readline()
        assert _cli(settings, "webhook-relay", "--healthy").returncode == 1  # none runs yet
        relay = _serving(settings, "webhook-relay")
        assert relay.stdout is not None
        assert relay.stdout.readline().startswith("webhook relay running (consumer relay-")
        assert wait_until(
            lambda: _cli(settings, "webhook-relay", "--healthy").returncode == 0, timeout=60
        )
        assert [name for name in _relays(settings) if not name.startswith("relay-")] == []
    finally:
        for proc in (api, relay):
            if proc is not None:
                proc.terminate()
                proc.wait(15)
    assert (api.returncode, relay.returncode if relay else None) == (0, 0)
