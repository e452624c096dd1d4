"""``targetsms`` as a user runs it: a subprocess, JSON on stdout, one line on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

from helpers import PASSWORD, Sandbox, WorkerProcess, make_settings

from worker.devstack import free_port
from worker.settings import Settings


def run(
    settings: Settings, *args: str, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **settings.to_env(), **(extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *args],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_send_wait_verify_status(
    redis_url: str, sandbox: Sandbox, start_worker: Callable[..., WorkerProcess]
) -> None:
    settings = make_settings(redis_url, sandbox)
    start_worker(settings)
    sent = run(settings, "send", "+79001234567", "--ip", "192.0.2.1", "--wait", "20")
    assert sent.returncode == 0, sent.stderr
    record = json.loads(sent.stdout)
    assert record["state"] == "sent" and record["id_sms"]
    code = sandbox.last_code("+79001234567")
    wrong = run(settings, "verify", record["id"], "000000" if code != "000000" else "111111")
    assert wrong.returncode == 1 and json.loads(wrong.stdout)["reason"] == "wrong"
    ok = run(settings, "verify", record["id"], code)
    assert ok.returncode == 0 and json.loads(ok.stdout) == {
        "ok": True, "reason": "ok", "attempts_left": 4,
    }  # fmt: skip
    status = json.loads(run(settings, "status", record["id"]).stdout)
    assert status["state"] == "verified" and status["delivery_status"] in ("send", "deliver")
    assert {"state", "id_sms", "delivery_status", "error", "history"} <= set(status)
    assert code not in json.dumps(status)


def test_refusals_exit_1_with_a_json_error(redis_url: str, sandbox: Sandbox) -> None:
    settings = make_settings(redis_url, sandbox)
    for phone, error in (("89001234567", "invalid_phone"), ("+77012345678", "country_not_allowed")):
        out = run(settings, "send", phone)
        assert out.returncode == 1 and json.loads(out.stdout)["error"] == error
        assert "Traceback" not in out.stderr


def test_failed_send_with_wait_exits_1(
    redis_url: str, sandbox: Sandbox, start_worker: Callable[..., WorkerProcess]
) -> None:
    settings = make_settings(redis_url, sandbox)
    start_worker(settings)
    out = run(settings, "send", "+79990000205", "--wait", "20")
    assert out.returncode == 1
    assert json.loads(out.stdout)["error"]["code"] == "phone_stop_listed"


def test_usage_errors_exit_2(redis_url: str, sandbox: Sandbox) -> None:
    settings = make_settings(redis_url, sandbox)
    for args in (
        [],
        ["send"],
        ["verify", "id"],
        ["nonsense"],
        ["send", "+79001234567", "--wait", "x"],
    ):
        out = run(settings, *args)
        assert out.returncode == 2, args
        assert "Traceback" not in out.stderr


def test_unknown_verification_is_one_line(redis_url: str, sandbox: Sandbox) -> None:
    out = run(make_settings(redis_url, sandbox), "status", "a" * 22)
    assert out.returncode == 1 and out.stderr.strip() == "targetsms: no such verification"


def test_broker_down_loses_nothing(redis_url: str, sandbox: Sandbox) -> None:
    settings = make_settings(redis_url, sandbox, OTP_RESEND_COOLDOWN_SECONDS=60)
    down = {"CELERY_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"}
    out = run(settings, "send", "+79001234567", extra=down)
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and "unavailable" in out.stderr
    assert "Traceback" not in out.stderr
    # Nothing was spent: the same phone may ask again at once, past the 60 s cooldown.
    again = run(settings, "send", "+79001234567")
    assert again.returncode == 0, again.stdout + again.stderr


def test_check_reports_each_part(redis_url: str, sandbox: Sandbox) -> None:
    good = run(make_settings(redis_url, sandbox), "check")
    assert good.returncode == 0, good.stdout
    assert [
        line.split()[0] for line in good.stdout.splitlines() if not line.startswith("note")
    ] == ["ok"] * 5
    assert "ok   text      1 SMS part with a 6-digit code" in good.stdout
    bad = run(make_settings(redis_url, sandbox, TARGETSMS_PASSWORD=PASSWORD + "x"), "check")
    assert bad.returncode == 1 and "FAIL gateway" in bad.stdout and "auth_failed" in bad.stdout


def test_balance(redis_url: str, sandbox: Sandbox) -> None:
    out = run(make_settings(redis_url, sandbox), "balance")
    assert out.returncode == 0 and json.loads(out.stdout)["currency"] == "RUR"


def test_fake_gateway_command_answers_the_guides_request() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "fake-gateway", "--port", "0", "--login", "LOGIN",
         "--password", "PASSWORD"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split()[-1]
        import requests
        from guide_samples import GUIDE_REQUEST

        answer = requests.post(
            f"{url}/password_generation/api.php",
            data=GUIDE_REQUEST,
            headers={"Content-Type": "text/xml; charset=utf-8"},
            timeout=5,
        )
        assert answer.status_code == 200
        assert b'<success code="' in answer.content and b'status="send"' in answer.content
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
