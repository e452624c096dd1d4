"""The Django app in a fresh ``django-admin startproject`` made of the README's snippets:
system checks, then the pages over a real HTTP server with CSRF, a real worker and the sandbox."""

from __future__ import annotations

import os
import re
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from helpers import Sandbox, WorkerProcess, make_settings, wait_until
from served import Served, django_project, manage

from worker.dev.devstack import free_port

pytest.importorskip("django", reason="django is in the dev extra")

PHONE = "+79001234567"


def csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def test_a_fresh_django_project_logs_in_by_phone(
    redis_url: str,
    sandbox: Sandbox,
    start_worker: Callable[..., WorkerProcess],
    serve: Callable[..., Served],
    tmp_path: Path,
) -> None:
    project = django_project(tmp_path)
    bare = {k: v for k, v in os.environ.items() if not k.startswith(("OTP_", "TARGETSMS_"))}
    checked = manage(project, bare, "check")
    assert checked.returncode != 0
    assert "TARGETSMS_LOGIN is required" in checked.stderr
    assert "OTP_SERVICE_NAME is required" in checked.stderr and "Traceback" not in checked.stderr

    settings = make_settings(redis_url, sandbox, OTP_RESEND_COOLDOWN_SECONDS=30)
    env = {**bare, **settings.to_env()}
    assert manage(project, env, "check").returncode == 0
    assert manage(project, env, "migrate", "-v", "0").returncode == 0
    start_worker(settings, concurrency=2)
    port = free_port()
    app = serve(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=project, env=env, url=f"http://127.0.0.1:{port}", probe="/auth/phone/",
    )  # fmt: skip
    with httpx.Client(base_url=app.url, timeout=10) as client:
        english = client.get("/auth/phone/", headers={"Accept-Language": "en"})
        assert "Sign in with your phone" in english.text
        client.headers["Accept-Language"] = "ru"
        page = client.get("/auth/phone/")
        assert "Вход по номеру телефона" in page.text
        # Without the CSRF token the form is refused.
        assert client.post("/auth/phone/", data={"phone": PHONE}).status_code == 403
        sent = client.post(
            "/auth/phone/", data={"phone": "8 900 123-45-67", "csrfmiddlewaretoken": csrf(page)}
        )
        assert sent.status_code == 302 and sent.headers["location"].endswith("/auth/phone/code/")
        code_page = client.get("/auth/phone/code/")
        assert 'autocomplete="one-time-code"' in code_page.text
        wait = re.search(r'data-wait="(\d+)"', code_page.text)
        assert wait and 0 < int(wait.group(1)) <= 30  # the resend countdown
        wait_until(lambda: sandbox.outbox(PHONE), 30, "the SMS to reach the sandbox")
        wrong = client.post(
            "/auth/phone/code/", data={"code": "000000", "csrfmiddlewaretoken": csrf(code_page)}
        )
        assert "Неверный код." in wrong.text
        done = client.post(
            "/auth/phone/code/",
            data={"code": sandbox.last_code(PHONE), "csrfmiddlewaretoken": csrf(wrong)},
        )
        assert done.status_code == 302 and done.headers["location"] == "/admin/"
        assert "sessionid" in client.cookies
    with sqlite3.connect(project / "db.sqlite3") as db:
        users = db.execute("select username from auth_user").fetchall()
        sessions = db.execute("select count(*) from django_session").fetchone()
    assert users == [(PHONE,)] and sessions[0] >= 1
