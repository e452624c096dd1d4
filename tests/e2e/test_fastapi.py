"""The FastAPI router in a fresh app made of the README's snippet, under a real uvicorn, with a
real ``celery -A worker worker`` sending through the sandbox; the client is httpx."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from helpers import Sandbox, WorkerProcess, make_settings, wait_until
from served import Served, readme_blocks

from worker.dev.devstack import free_port
from worker.integrations.common import PENDING_COOKIE, VERIFIED_COOKIE
from worker.settings import Settings

pytest.importorskip("fastapi", reason="fastapi is in the dev extra")

PHONE = "+79001234567"


def fresh_app(tmp_path: Path) -> Path:
    project = tmp_path / "fastapi-project"
    project.mkdir(parents=True)
    (project / "app.py").write_text(readme_blocks("### FastAPI")[0], encoding="utf-8")
    return project


def start(serve: Callable[..., Served], tmp_path: Path, settings: Settings, **env: str) -> Served:
    """``uvicorn app:app`` as the README runs it: ``--no-proxy-headers``, so uvicorn itself
    does not take X-Forwarded-For from a loopback peer (its default) and the router decides."""
    port = free_port()
    full_env = {**os.environ, **settings.to_env(), "OTP_COOKIE_SECURE": "0", **env}
    return serve(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-proxy-headers",
        ],
        cwd=fresh_app(tmp_path),
        env=full_env,
        url=f"http://127.0.0.1:{port}",
        probe="/docs",
    )


def test_a_fresh_fastapi_app_logs_in_by_phone(
    redis_url: str,
    sandbox: Sandbox,
    start_worker: Callable[..., WorkerProcess],
    serve: Callable[..., Served],
    tmp_path: Path,
) -> None:
    settings = make_settings(redis_url, sandbox, OTP_RESEND_COOLDOWN_SECONDS=30)
    start_worker(settings, concurrency=2)
    app = start(serve, tmp_path, settings)
    with httpx.Client(base_url=app.url, timeout=10) as client:
        assert client.post("/login").status_code == 401  # nothing verified yet
        assert client.post("/auth/phone/check", json={"code": "1"}).status_code == 404

        asked = client.post("/auth/phone/request", json={"phone": "+7 900 123-45-67"})
        assert asked.status_code == 202, asked.text
        assert asked.json() == {"state": "queued", "resend_after": 30}
        cookie = asked.headers["set-cookie"]
        assert PENDING_COOKIE in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
        assert PHONE not in cookie and "79001234567" not in cookie

        wait_until(lambda: sandbox.outbox(PHONE), 30, "the SMS to reach the sandbox")
        status = client.get("/auth/phone/status").json()
        assert status["state"] in ("sent", "sending") and "phone" not in status
        again = client.post("/auth/phone/resend", json={})
        assert again.status_code == 429 and int(again.headers["retry-after"]) <= 30

        wrong = client.post("/auth/phone/check", json={"code": "000000"})
        assert wrong.status_code == 400 and wrong.json()["reason"] == "wrong"
        right = client.post("/auth/phone/check", json={"code": sandbox.last_code(PHONE)})
        assert right.json() == {"ok": True}
        assert VERIFIED_COOKIE in right.headers["set-cookie"]

        login = client.post("/login")
        assert login.json() == {"logged_in": PHONE}
        assert client.post("/login").status_code == 401  # the proof is used once


def test_cookies_are_signed_and_the_proxy_header_is_trusted_only_when_told(
    redis_url: str, sandbox: Sandbox, serve: Callable[..., Served], tmp_path: Path
) -> None:
    settings = make_settings(redis_url, sandbox, OTP_IP_MAX_PER_HOUR=1)
    app = start(serve, tmp_path, settings)
    with httpx.Client(base_url=app.url, timeout=10) as client:
        first = client.post(
            "/auth/phone/request", json={"phone": "+79001110001"},
            headers={"X-Forwarded-For": "198.51.100.1"},
        )  # fmt: skip
        assert first.status_code == 202
        # Another forwarded address is still the same peer: the IP limit holds.
        second = client.post(
            "/auth/phone/request", json={"phone": "+79001110002"},
            headers={"X-Forwarded-For": "198.51.100.2"},
        )  # fmt: skip
        assert second.status_code == 429 and second.json()["error"] == "rate_limited"
        # A forged cookie names no verification.
        pending = client.cookies[PENDING_COOKIE]
        vid, issued, tag = pending.split(".")
        client.cookies.set(PENDING_COOKIE, f"{vid}.{issued}.{'0' * len(tag)}")
        assert client.get("/auth/phone/status").status_code == 404
        client.cookies.set(VERIFIED_COOKIE, pending)  # a pending cookie is no proof
        assert client.post("/login").status_code == 401
        # A form post (what another site can make a browser send) is not JSON: refused.
        form = client.post("/auth/phone/request", data={"phone": "+79001110003"})
        assert form.status_code == 422

    behind_proxy = start(
        serve, tmp_path / "proxied", settings.replace(OTP_REDIS_PREFIX="tp:"),
        OTP_TRUSTED_PROXY_HEADER="X-Forwarded-For",
    )  # fmt: skip
    with httpx.Client(base_url=behind_proxy.url, timeout=10) as client:
        for n, ip in enumerate(("198.51.100.1", "198.51.100.2")):
            ok = client.post(
                "/auth/phone/request", json={"phone": f"+7900111001{n}"},
                headers={"X-Forwarded-For": f"203.0.113.9, {ip}"},
            )  # fmt: skip
            assert ok.status_code == 202, ok.text
