"""``targetsms`` as a user runs it: a subprocess, JSON on stdout, one line on stderr."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from helpers import PASSWORD, Sandbox, WorkerProcess, make_settings, refused_port

from worker.dev.devstack import free_port
from worker.settings import Settings


def run(
    settings: Settings | None,
    *args: str,
    extra: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **(settings.to_env() if settings else {}), **(extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "worker.ops.cli", *args],
        env=env, capture_output=True, text=True, timeout=60, cwd=cwd,
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
    for phone, error in (("8 900 123", "invalid_phone"), ("+77012345678", "country_not_allowed")):
        out = run(settings, "send", phone)
        assert out.returncode == 1 and json.loads(out.stdout)["error"] == error
        assert "Traceback" not in out.stderr


def test_send_takes_the_national_format_of_the_default_region(
    redis_url: str, sandbox: Sandbox, start_worker: Callable[..., WorkerProcess]
) -> None:
    settings = make_settings(redis_url, sandbox)
    start_worker(settings)
    sent = run(settings, "send", "8 900 123-45-67", "--wait", "20")
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["state"] == "sent"
    assert len(sandbox.outbox("+79001234567")) == 1  # the E.164 number got the SMS


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


def test_unknown_verification_is_one_answer_everywhere(redis_url: str, sandbox: Sandbox) -> None:
    settings = make_settings(redis_url, sandbox)
    for unknown in ("a" * 22, "not-an-id"):
        for args in (["status"], ["verify"], ["cancel"], ["resend"]):
            out = run(settings, *args, unknown, *(["123456"] if args == ["verify"] else []))
            assert out.returncode == 1, (args, unknown)
            assert out.stdout == "", (args, unknown)
            assert out.stderr == "targetsms: no such verification\n", (args, unknown)


def test_redis_down_is_one_line_naming_host_and_port(redis_url: str, sandbox: Sandbox) -> None:
    port = free_port()
    down = make_settings(f"redis://:hunter2-pw@127.0.0.1:{port}/0", sandbox)
    for args in (
        ["stats"],
        ["block"],
        ["block", "+7999"],
        ["unblock", "+7999"],
        ["status", "a" * 22],
    ):
        out = run(down, *args)
        assert out.returncode == 1, args
        assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr
        assert f"127.0.0.1:{port}" in out.stderr and "hunter2" not in out.stderr, out.stderr
        assert out.stdout == "", args


def test_send_wait_without_a_worker_says_no_worker_took_it(
    redis_url: str, sandbox: Sandbox
) -> None:
    out = run(make_settings(redis_url, sandbox), "send", "+79001234599", "--wait", "1")
    assert out.returncode == 1
    record = json.loads(out.stdout)
    assert record["state"] == "queued"
    assert out.stderr.startswith(f"targetsms: no worker took {record['id']} within 1 s")
    assert out.stderr.count("\n") == 1


def test_version_and_positional_help() -> None:
    version = run(None, "--version")
    assert version.returncode == 0 and version.stdout.startswith("targetsms ")
    for command, positional in (("send", "phone"), ("verify", "code"), ("unblock", "prefix")):
        usage = run(None, command, "--help")
        section = usage.stdout.split("positional arguments:")[1].split("options:")[0]
        line = next(li for li in section.splitlines() if li.strip().startswith(positional))
        assert len(line.split()) > 1, f"{command} {positional} has no help text"


def test_reads_dotenv_in_the_current_directory_and_the_environment_wins(
    redis_url: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = make_settings(redis_url, sandbox)
    env_lines = [f"{k}={v}" for k, v in settings.to_env().items() if "\n" not in v]
    (tmp_path / ".env").write_text("\n".join(env_lines) + "\n", encoding="utf-8")
    bare = {k: v for k, v in os.environ.items() if k not in settings.to_env()}
    out = subprocess.run(
        [sys.executable, "-m", "worker.ops.cli", "balance"],
        env=bare, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    # A variable set in the environment wins over the file: this login is refused.
    wrong = subprocess.run(
        [sys.executable, "-m", "worker.ops.cli", "balance"],
        env={**bare, "TARGETSMS_PASSWORD": PASSWORD + "-env"},
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert wrong.returncode == 1
    # The stable code first, then the gateway's own text.
    assert wrong.stderr.startswith("targetsms: auth_failed: ") and wrong.stderr.count("\n") == 1


def test_broker_down_loses_nothing(redis_url: str, sandbox: Sandbox) -> None:
    settings = make_settings(redis_url, sandbox, OTP_RESEND_COOLDOWN_SECONDS=60)
    down = {"CELERY_BROKER_URL": f"redis://127.0.0.1:{refused_port()}/0"}
    out = run(settings, "send", "+79001234567", extra=down)
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and "unavailable" in out.stderr
    assert "Traceback" not in out.stderr
    # Nothing was spent: the same phone may ask again at once, past the 60 s cooldown.
    again = run(settings, "send", "+79001234567")
    assert again.returncode == 0, again.stdout + again.stderr


def test_check_reports_each_part(
    redis_url: str, sandbox: Sandbox, start_worker: Callable[..., WorkerProcess]
) -> None:
    settings = make_settings(redis_url, sandbox)
    start_worker(settings)
    good = run(settings, "check")
    assert good.returncode == 0, good.stdout
    report = json.loads(good.stdout)  # one JSON object
    assert report["ok"] is True
    assert [(c["part"], c["ok"]) for c in report["checks"]] == [
        (part, True) for part in ("settings", "text", "redis", "broker", "workers", "gateway")
    ]
    text = run(settings, "check", "--text")
    assert [
        line.split()[0] for line in text.stdout.splitlines() if not line.startswith("note")
    ] == ["ok"] * 6
    assert "text      OTP_TEXT: 1 SMS part with a 6-digit code: TestShop" in text.stdout
    bad = run(make_settings(redis_url, sandbox, TARGETSMS_PASSWORD=PASSWORD + "x"), "check")
    assert bad.returncode == 1
    failed = {c["part"]: c["detail"] for c in json.loads(bad.stdout)["checks"] if not c["ok"]}
    assert failed["gateway"].startswith("auth_failed: ")


def test_check_shows_each_text_as_sent_with_the_webotp_line_and_its_parts(
    redis_url: str, sandbox: Sandbox
) -> None:
    settings = make_settings(
        redis_url,
        sandbox,
        OTP_TEXT_EN="TestShop code {код}",
        OTP_WEBOTP_DOMAIN="shop.example.ru",
        OTP_MAX_SMS_PARTS=2,
        OTP_TEST_NUMBERS=("+12125550123:424242",),
    )
    report = json.loads(run(settings, "check").stdout)
    [note] = [n for n in report["notes"] if n.startswith("OTP_TEST_NUMBERS")]
    assert note.startswith("OTP_TEST_NUMBERS: 1 number get a fixed code and no SMS (logged as ")
    assert "5550123" not in note
    texts = [c["detail"] for c in report["checks"] if c["part"] == "text"]
    assert texts == [
        "OTP_TEXT: 2 SMS parts with a 6-digit code: TestShop: код для входа {код}. Никому не "
        "сообщайте его. \u23ce @shop.example.ru #{код}",
        "OTP_TEXT_EN: 1 SMS part with a 6-digit code: TestShop code {код} \u23ce "
        "@shop.example.ru #{код}",
    ]


def test_check_reports_a_guessable_flower_password_and_secret_key(
    redis_url: str, sandbox: Sandbox
) -> None:
    settings = make_settings(redis_url, sandbox)
    shipped = {"FLOWER_BASIC_AUTH": "admin:change-me"}
    out = run(settings, "check", extra=shipped)
    assert out.returncode == 1
    failed = {c["part"]: c["detail"] for c in json.loads(out.stdout)["checks"] if not c["ok"]}
    assert set(failed) == {"workers", "flower"} and "FLOWER_BASIC_AUTH" in failed["flower"]
    assert "change-me" not in out.stdout
    # Bad settings stop the check early; the Flower password is still reported.
    key = {"OTP_SECRET_KEY": "change-me-to-a-long-random-string"}
    both = json.loads(run(settings, "check", extra={**shipped, **key}).stdout)
    assert [(c["part"], c["ok"]) for c in both["checks"]] == [
        ("settings", False),
        ("flower", False),
    ]
    assert "OTP_SECRET_KEY" in both["checks"][0]["detail"] and "change-me" not in json.dumps(both)
    empty = run(settings, "check", "--text", extra={"FLOWER_BASIC_AUTH": "ops:"})
    assert "FAIL flower" in empty.stdout  # an empty password is no password
    good = run(settings, "check", extra={"FLOWER_BASIC_AUTH": "ops:" + secrets.token_urlsafe(32)})
    checks = {c["part"]: c["ok"] for c in json.loads(good.stdout)["checks"]}
    assert checks["flower"] is True


def test_check_says_when_no_worker_consumes_the_send_queue(
    redis_url: str, sandbox: Sandbox
) -> None:
    out = run(make_settings(redis_url, sandbox), "check")
    assert out.returncode == 1
    failed = {c["part"]: c["detail"] for c in json.loads(out.stdout)["checks"] if not c["ok"]}
    assert set(failed) == {"workers"} and "targetsms.send" in failed["workers"]


def test_stats_is_one_json_object_or_text(redis_url: str, sandbox: Sandbox) -> None:
    settings = make_settings(redis_url, sandbox)
    stats = json.loads(run(settings, "stats").stdout)
    assert {"last_hour", "last_day"} <= set(stats)
    text = run(settings, "stats", "--text")
    assert text.returncode == 0 and any(
        line.startswith("last_hour.") for line in text.stdout.splitlines()
    )


def test_balance(redis_url: str, sandbox: Sandbox) -> None:
    out = run(make_settings(redis_url, sandbox), "balance")
    assert out.returncode == 0 and json.loads(out.stdout)["currency"] == "RUR"


def test_fake_gateway_command_answers_the_guides_request() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker.ops.cli", "fake-gateway", "--port", "0", "--login", "LOGIN",
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


def test_ids_that_start_with_a_dash_need_no_double_dash(redis_url: str, sandbox: Sandbox) -> None:
    """Records made before ids were kept from starting with "-" still work from the CLI."""
    from worker.api.gate import sms_gate
    from worker.runtime import Runtime

    settings = make_settings(redis_url, sandbox)
    rt = Runtime.from_settings(settings)
    old_id = "-" + "a1B2_c3D4-e5F6g7H8i9J0"[:21]
    gate = sms_gate(settings, phone="+79001234567", region="RU", ip=None, captcha_passed=False)
    rt.store.create(
        gate, verification_id=old_id, idempotency_digest=None, idempotency_ttl_ms=0,
        record_ttl_ms=60_000, send_window_ms=60_000, max_attempts=5, pending_grace_ms=60_000,
    )  # fmt: skip
    status = run(settings, "status", old_id)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["state"] == "queued"
    verify = run(settings, "verify", old_id, "123456", "--ip", "192.0.2.1")
    assert json.loads(verify.stdout)["reason"] == "not_sent_yet"
    verify = run(settings, "verify", "--ip", "192.0.2.1", old_id, "123456")
    assert json.loads(verify.stdout)["reason"] == "not_sent_yet"
    canceled = run(settings, "cancel", old_id)
    assert json.loads(canceled.stdout) == {"id": old_id, "canceled": True}
    assert run(settings, "status", "--", old_id).returncode == 0  # the old way still works
