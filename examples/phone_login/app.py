"""A phone-login web app on the public producer API: copy it, or read it for the whole flow.

    python examples/phone_login/app.py --host 127.0.0.1 --port 8000

Settings come from the environment (and ``.env`` in the current directory), the same ones the
workers read. The verification id lives only in a server-side session; phone numbers and codes
travel only in POST bodies, never in a URL or a log line. Who logs in is the number the API says
the code proved (``VerifyResult.phone``), never what was typed into the form.
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import json
import logging
import os
import secrets
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis
from flask import Flask, Response, redirect, render_template, request, session
from markupsafe import Markup, escape
from messages import LANGUAGES, TEXTS, format_wait
from sessions import RedisSession, RedisSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from worker import (
    RequestRefused,
    ServiceUnavailable,
    Settings,
    SettingsError,
    VerificationNotFound,
    VerificationStatus,
    cancel,
    get_status,
    request_code,
    resend,
    verify_code,
    watch_events,
)
from worker.web.serving import WEB_LIMITS, serve

#: How long one live-status stream stays open; the browser's EventSource then reconnects.
STREAM_SECONDS = 25.0
SESSION_TTL_SECONDS = 12 * 3600

#: The captcha widget of each provider: its script and the form field its token arrives in.
CAPTCHA_WIDGETS: dict[str, dict[str, str]] = {
    "yandex": {
        "script": "https://smartcaptcha.yandexcloud.net/captcha.js",
        "class": "smart-captcha",
        "field": "smart-token",
    },
    "recaptcha": {
        "script": "https://www.google.com/recaptcha/api.js",
        "class": "g-recaptcha",
        "field": "g-recaptcha-response",
    },
    "hcaptcha": {
        "script": "https://js.hcaptcha.com/1/api.js",
        "class": "h-captcha",
        "field": "h-captcha-response",
    },
    "turnstile": {
        "script": "https://challenges.cloudflare.com/turnstile/v0/api.js",
        "class": "cf-turnstile",
        "field": "cf-turnstile-response",
    },
}

_DELIVERED = {"deliver", "partly_deliver"}
_NOT_DELIVERED = {"not_deliver", "expired", "not_valid_phone"}

access_log = logging.getLogger("phone_login.access")


def create_app(settings: Settings, *, site_key: str = "", allow_http: bool = False) -> Flask:
    app = Flask(__name__)
    app.config.update(SESSION_COOKIE_NAME="phone_login", MAX_CONTENT_LENGTH=16 * 1024)
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True, socket_timeout=5)
    app.session_interface = RedisSessionInterface(
        client, f"{settings.redis_prefix}example:session:", SESSION_TTL_SECONDS, allow_http
    )
    widget = (
        CAPTCHA_WIDGETS.get(settings.captcha.provider) if settings.captcha.mode != "off" else None
    )

    def sess() -> RedisSession:
        return session  # type: ignore[return-value]

    def lang() -> str:
        return request.accept_languages.best_match(LANGUAGES, default="ru") or "ru"

    def text(key: str, **params: Any) -> str:
        return TEXTS[lang()][key].format(**params)

    def notice(key: str, *, wait: int | None = None, typed: str = "", **params: Any) -> None:
        """A message for the next page (post/redirect/get); a wait becomes a deadline.
        ``typed`` refills the phone form once: a refused number is never kept beyond that."""
        until = time.time() + wait if wait is not None else None
        sess()["notice"] = {"key": key, "until": until, "params": params, "typed": typed}

    def client_ip() -> str | None:
        return request.remote_addr

    def captcha_token() -> str | None:
        return (request.form.get(widget["field"]) or None) if widget else None

    def resend_wait() -> int:
        """Seconds until the resend button may be used: the cooldown since the last send,
        or what a refused resend said, whichever is later."""
        s = sess()
        until = max(
            s.get("sent_at", 0) + settings.codes.resend_cooldown_seconds, s.get("resend_until", 0)
        )
        return max(0, int(until - time.time() + 0.999))

    @app.before_request
    def csrf_protect() -> Response | None:
        s = sess()
        if s.unavailable:
            page = render_template(
                "error.html", t=TEXTS[lang()], lang=lang(), message=text("unavailable")
            )
            return Response(page, status=503)
        if "csrf" not in s:
            s["csrf"] = secrets.token_urlsafe(32)
        if request.method == "POST":
            sent = request.form.get("csrf_token", "")
            if not hmac.compare_digest(sent.encode(), s["csrf"].encode()):
                return Response(
                    render_template(
                        "error.html", t=TEXTS[lang()], lang=lang(), message=text("csrf")
                    ),
                    status=400,
                )
        return None

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        # The access log: method, path (never the query string or a form field) and status.
        access_log.info("%s %s %s", request.method, request.path, response.status_code)
        return response

    @app.get("/")
    def index() -> str:
        s = sess()
        t = TEXTS[lang()]
        shown = s.pop("notice", None)
        message = wait = None
        if shown:
            params = dict(shown["params"])
            if shown["until"]:
                wait = max(0, int(shown["until"] - time.time() + 0.999))
                params["wait"] = _countdown(wait, enables=_UNBLOCKS.get(shown["key"], ""))
            message = _fill(t[shown["key"]], **params)
        view = "logged_in" if "user" in s else "code" if "vid" in s else "phone"
        status = _current_status(s["vid"]) if view == "code" else None
        left = resend_wait()
        return render_template(
            "index.html",
            view=view,
            t=t,
            lang=lang(),
            message=message,
            message_key=shown["key"] if shown else None,
            wait=wait,
            csrf=s["csrf"],
            nonce=secrets.token_urlsafe(16),
            widget=widget,
            site_key=site_key,
            show_captcha=widget is not None
            and (view == "phone" or settings.captcha.mode == "always" or s.get("captcha")),
            phone=(shown or {}).get("typed") or s.get("phone", ""),
            masked=_mask(s["user"] if view == "logged_in" else status.phone if status else None),
            code_length=settings.codes.length,
            resend_wait=left,
            resend_wait_text=_fill(
                t["resend_wait"], wait=_countdown(left, enables="resend", hides="resend-wait")
            ),
            stage=(_stage(status.state, status.delivery_status) if status else "gone")
            if view == "code"
            else None,
            offer_new=s.get("offer_new", False),
        )

    @app.post("/send")
    def send() -> Response:
        s = sess()
        phone = request.form.get("phone", "").strip()[:40]
        # The key names this session, this form and this number: a resubmitted form returns
        # the same verification, and a different number typed into a cached form does not.
        key = f"{s['csrf']}:{request.form.get('nonce', '')}:{phone}"
        try:
            req = request_code(
                phone, client_ip=client_ip(), captcha_token=captcha_token(), idempotency_key=key
            )
        except RequestRefused as exc:
            # Nothing of a refused number is kept: the session's verification stays as it was.
            _refused(exc, typed=phone)
            return redirect("/", 303)  # type: ignore[return-value]
        except ServiceUnavailable:
            notice("unavailable", typed=phone)
            return redirect("/", 303)  # type: ignore[return-value]
        s["phone"] = phone  # as typed, to refill the form after "another number"
        if s.get("vid") != req.id:
            s.update(vid=req.id, sent_at=time.time(), resend_until=0, offer_new=False)
        s.pop("captcha", None)
        return redirect("/", 303)  # type: ignore[return-value]

    @app.post("/verify")
    def verify() -> Response:
        s = sess()
        if "vid" not in s:
            return redirect("/", 303)  # type: ignore[return-value]
        code = request.form.get("code", "").strip()[:20]
        if not code:
            notice("empty_code")
            return redirect("/", 303)  # type: ignore[return-value]
        try:
            result = verify_code(s["vid"], code, client_ip=client_ip())
        except ServiceUnavailable:
            notice("unavailable")
            return redirect("/", 303)  # type: ignore[return-value]
        if result.ok and result.phone:
            user = result.phone  # the number this code proved, whatever the form said
            csrf = secrets.token_urlsafe(32)
            s.clear()
            s.regenerate()
            s.update(user=user, csrf=csrf)
            return redirect("/", 303)  # type: ignore[return-value]
        if result.reason == "wrong":
            notice("wrong", attempts=result.attempts_left)
        elif result.reason == "rate_limited":
            notice("verify_rate_limited", wait=result.retry_after or 1)
        elif result.reason in ("locked", "already_used", "canceled", "unknown"):
            notice(result.reason)
            _start_over()
        else:  # expired, failed: a resend of the same verification; not_sent_yet: wait
            notice(result.reason if result.reason in TEXTS["ru"] else "unknown")
            s["offer_new"] = result.reason in ("expired", "failed")
        return redirect("/", 303)  # type: ignore[return-value]

    @app.post("/resend")
    def resend_code() -> Response:
        s = sess()
        if "vid" not in s:
            return redirect("/", 303)  # type: ignore[return-value]
        try:
            # A resend is an SMS like any other: the same limits and the same captcha.
            resend(s["vid"], client_ip=client_ip(), captcha_token=captcha_token())
        except RequestRefused as exc:
            _refused(exc)
            if exc.code == "rate_limited" and exc.retry_after:
                s["resend_until"] = time.time() + exc.retry_after
            elif exc.code == "not_allowed":
                _start_over()
            return redirect("/", 303)  # type: ignore[return-value]
        except VerificationNotFound:
            notice("expired")
            _start_over()
            return redirect("/", 303)  # type: ignore[return-value]
        except ServiceUnavailable:
            notice("unavailable")
            return redirect("/", 303)  # type: ignore[return-value]
        s.update(sent_at=time.time(), resend_until=0, offer_new=False)
        s.pop("captcha", None)
        notice("resent")
        return redirect("/", 303)  # type: ignore[return-value]

    @app.post("/cancel")
    def cancel_code() -> Response:
        if "vid" in sess():
            with contextlib.suppress(VerificationNotFound, ServiceUnavailable):
                cancel(sess()["vid"])  # if this fails, it still ends at its TTL
        _start_over()
        return redirect("/", 303)  # type: ignore[return-value]

    @app.post("/logout")
    def logout() -> Response:
        s = sess()
        s.clear()
        s.regenerate()
        s["csrf"] = secrets.token_urlsafe(32)
        notice("logged_out")
        return redirect("/", 303)  # type: ignore[return-value]

    @app.get("/events")
    def events() -> Response:
        """Server-Sent Events: the delivery stage of this session's verification, live."""
        verification_id = sess().get("vid")
        if not verification_id:
            return Response(status=204)  # tells EventSource to stop reconnecting
        return Response(
            _stream(verification_id),
            mimetype="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    def _refused(exc: RequestRefused, *, typed: str = "") -> None:
        if exc.code == "rate_limited":
            if exc.retry_after:
                notice("rate_limited", wait=exc.retry_after, typed=typed)
            else:
                notice("rate_limited_later", typed=typed)
        else:
            notice(exc.code if exc.code in TEXTS["ru"] else "invalid_ip", typed=typed)
        if exc.code in ("captcha_required", "captcha_failed"):
            sess()["captcha"] = True

    def _start_over() -> None:
        s = sess()
        for name in ("vid", "sent_at", "resend_until", "offer_new"):
            s.pop(name, None)

    return app


#: Which button a rate-limit countdown re-enables when it reaches zero.
_UNBLOCKS = {"rate_limited": "send", "verify_rate_limited": "verify"}


def _countdown(seconds: int, *, enables: str = "", hides: str = "") -> Markup:
    """A wait the page's script counts down; the server renders its first value."""
    return Markup(
        '<span class="countdown" data-seconds="{}" data-enables="{}" data-hides="{}">{}</span>'
    ).format(seconds, enables, hides, format_wait(seconds))


def _fill(template: str, **params: Any) -> Markup:
    """A message with its parameters; the text is escaped, countdown markup is kept."""
    return escape(template).format(**params)


def _current_status(verification_id: str) -> VerificationStatus | None:
    with contextlib.suppress(VerificationNotFound, ServiceUnavailable):
        return get_status(verification_id)
    return None


def _stage(state: str, delivery_status: str | None) -> str:
    """What the user is told: sending, sent, delivered, not delivered, or how it ended."""
    if state in ("queued", "sending"):
        return "sending"
    if state == "failed" or delivery_status in _NOT_DELIVERED:
        return "not_delivered"
    if delivery_status in _DELIVERED:
        return "delivered"
    if state in ("verified", "expired", "locked", "canceled"):
        return state
    return "sent"


def _stream(verification_id: str) -> Iterator[str]:
    # Subscribe first, then read the current status: no change can fall between the two.
    try:
        changes = watch_events(verification_id, timeout=STREAM_SECONDS)
    except ServiceUnavailable:
        yield "retry: 5000\n\n"
        return
    try:
        status = get_status(verification_id)
        state, delivery = status.state, status.delivery_status
        yield "retry: 1000\n" + _sse(_stage(state, delivery))
        for event in changes:
            state = str(event.get("state") or state)
            if "delivery_status" in event:
                delivery = event["delivery_status"] or None
            elif event.get("event") in ("queued", "resend", "sending"):
                delivery = None
            yield _sse(_stage(state, delivery))
    except VerificationNotFound:
        yield _sse("gone")
    except ServiceUnavailable:
        yield "retry: 5000\n\n"
    finally:
        changes.close()


def _sse(stage: str) -> str:
    return f"event: stage\ndata: {json.dumps({'stage': stage})}\n\n"


def _mask(phone: str | None) -> str:
    """Enough of the E.164 number to recognise it, not enough to read it off a screen."""
    digits = [c for c in phone or "" if c.isdigit()]
    if len(digits) < 6:
        return "•" * len(digits)
    return "+" + "".join(digits[:4]) + "•" * (len(digits) - 6) + "".join(digits[-2:])


def load_dotenv(path: Path) -> None:
    """Read KEY=VALUE lines the way honcho does; the real environment wins."""
    if not path.is_file():
        return
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key, value = key.removeprefix("export ").strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        os.environ.setdefault(key, value)


def app_from_env(*, behind_proxy: bool = False, insecure_http: bool = False) -> Flask:
    """The app with the workers' settings: the environment, then ``.env`` in the current
    directory. Raises ``SettingsError`` listing every bad setting."""
    load_dotenv(Path.cwd() / ".env")
    settings = Settings.from_env()
    app = create_app(
        settings, site_key=os.environ.get("CAPTCHA_SITE_KEY", ""), allow_http=insecure_http
    )
    if behind_proxy:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)  # type: ignore[method-assign]
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Example phone-login web app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--behind-proxy",
        action="store_true",
        help="trust one proxy's X-Forwarded-For/-Proto (client IP, https for Secure cookies)",
    )
    parser.add_argument(
        "--insecure-http",
        action="store_true",
        help="allow the session cookie without Secure over plain http off loopback (testing)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        app = app_from_env(behind_proxy=args.behind_proxy, insecure_http=args.insecure_http)
    except SettingsError as exc:
        print(f"phone_login: {exc}", file=sys.stderr)
        return 2
    try:
        server = serve(app, args.host, args.port, WEB_LIMITS, name="phone_login")
    except OSError as exc:
        print(f"phone_login: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(f"phone_login: Running on {server.url}", flush=True)
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
