"""A phone-login web app on the public producer API: copy it, or read it for the whole flow.

    python examples/phone_login/app.py --host 127.0.0.1 --port 8000

The views are one Blueprint, ``phone_login``, of plain module-level functions. ``create_app``
registers it and keeps what the views run on (an ``AppConfig``: the runtime the API calls use,
the captcha site key, a clock) in ``app.extensions``, so the views capture nothing and another
app can be built around the same ones. ``main()`` reads the workers' settings (the environment,
and ``.env`` in the current directory as the ``targetsms`` CLI reads it) and serves the app on
the project's HTTP server.

The verification id lives only in a server-side session; phone numbers and codes travel only in
POST bodies, never in a URL or a log line. Who logs in is the number the API says the code
proved (``VerifyResult.phone``), never what was typed into the form.
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import logging
import os
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from delivery import current_status, stage, stream
from flask import Blueprint, Flask, Response, current_app, redirect, render_template, request
from flask import session as flask_session
from markupsafe import Markup, escape
from messages import LANGUAGES, TEXTS, format_wait
from sessions import RedisSession, RedisSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response as BaseResponse

from worker import (
    RequestRefused,
    ServiceUnavailable,
    Settings,
    SettingsError,
    VerificationNotFound,
    cancel,
    request_code,
    resend,
    verify_code,
)
from worker.runtime import Runtime, get_runtime
from worker.settings import load_dotenv_file
from worker.web.serving import WEB_LIMITS, serve

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

#: Which button a rate-limit countdown re-enables when it reaches zero.
_UNBLOCKS = {"rate_limited": "send", "verify_rate_limited": "verify"}

access_log = logging.getLogger("phone_login.access")

phone_login = Blueprint("phone_login", __name__)


@dataclass(frozen=True, slots=True)
class AppConfig:
    """What the views run on: given once to ``create_app``, read back through ``app_config()``."""

    runtime: Runtime  # the workers' settings, and the Redis and queue the API calls use
    site_key: str = ""  # the captcha widget's public key (CAPTCHA_SITE_KEY)
    allow_http: bool = False  # the session cookie without Secure off loopback (--insecure-http)
    clock: Callable[[], float] = time.time  # wall-clock seconds: cooldowns and countdowns

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def widget(self) -> dict[str, str] | None:
        """The captcha widget the forms carry, or None when captcha is off."""
        captcha = self.settings.captcha
        return CAPTCHA_WIDGETS.get(captcha.provider) if captcha.mode != "off" else None


def create_app(config: AppConfig) -> Flask:
    """The ``phone_login`` views with ``config`` and sessions in Redis."""
    app = Flask(__name__)
    app.config.update(SESSION_COOKIE_NAME="phone_login", MAX_CONTENT_LENGTH=16 * 1024)
    settings = config.settings
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True, socket_timeout=5)
    app.session_interface = RedisSessionInterface(
        client, f"{settings.redis_prefix}example:session:", SESSION_TTL_SECONDS, config.allow_http
    )
    app.extensions["phone_login"] = config
    app.register_blueprint(phone_login)
    return app


def app_config() -> AppConfig:
    """The ``AppConfig`` of the app handling this request."""
    found: AppConfig = current_app.extensions["phone_login"]
    return found


# -- every request: the session's Redis, CSRF, headers, the access log -------------------------
# App-wide hooks, not only this blueprint's routes: the stylesheet and script get them too.


@phone_login.before_app_request
def refuse_unavailable_or_forged() -> Response | None:
    """A 503 page when the session cannot be read; a 400 page for a POST without our token."""
    s = session()
    if s.unavailable:
        return _error_page("unavailable", 503)
    if "csrf" not in s:
        s["csrf"] = secrets.token_urlsafe(32)
    if request.method == "POST":
        sent = request.form.get("csrf_token", "")
        if not hmac.compare_digest(sent.encode(), s["csrf"].encode()):
            return _error_page("csrf", 400)
    return None


@phone_login.after_app_request
def security_headers(response: Response) -> Response:
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    # The access log: method, path (never the query string or a form field) and status.
    access_log.info("%s %s %s", request.method, request.path, response.status_code)
    return response


# -- the pages and forms ------------------------------------------------------------------------


@phone_login.get("/")
def index() -> str:
    s = session()
    settings = app_config().settings
    t = texts()
    shown = s.pop("notice", None)
    message = wait = None
    if shown:
        params = dict(shown["params"])
        if shown["until"]:
            wait = _seconds_until(shown["until"])
            params["wait"] = _countdown(wait, enables=_UNBLOCKS.get(shown["key"], ""))
        message = _fill(t[shown["key"]], **params)
    view = "logged_in" if "user" in s else "code" if "vid" in s else "phone"
    status = current_status(s["vid"], app_config().runtime) if view == "code" else None
    left = resend_wait()
    widget = app_config().widget
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
        site_key=app_config().site_key,
        show_captcha=widget is not None
        and (view == "phone" or settings.captcha.mode == "always" or s.get("captcha")),
        phone=(shown or {}).get("typed") or s.get("phone", ""),
        masked=_mask(s["user"] if view == "logged_in" else status.phone if status else None),
        code_length=settings.codes.length,
        resend_wait=left,
        resend_wait_text=_fill(
            t["resend_wait"], wait=_countdown(left, enables="resend", hides="resend-wait")
        ),
        stage=(stage(status.state, status.delivery_status) if status else "gone")
        if view == "code"
        else None,
        offer_new=s.get("offer_new", False),
    )


@phone_login.post("/send")
def send() -> BaseResponse:
    s = session()
    phone = request.form.get("phone", "").strip()[:40]
    # The key names this session, this form and this number: a resubmitted form returns
    # the same verification, and a different number typed into a cached form does not.
    key = f"{s['csrf']}:{request.form.get('nonce', '')}:{phone}"
    try:
        req = request_code(
            phone,
            client_ip=client_ip(),
            captcha_token=captcha_token(),
            idempotency_key=key,
            runtime=app_config().runtime,
        )
    except RequestRefused as exc:
        # Nothing of a refused number is kept: the session's verification stays as it was.
        _refused(exc, typed=phone)
        return _to_index()
    except ServiceUnavailable:
        notice("unavailable", typed=phone)
        return _to_index()
    s["phone"] = phone  # as typed, to refill the form after "another number"
    if s.get("vid") != req.id:
        s.update(vid=req.id, sent_at=app_config().clock(), resend_until=0, offer_new=False)
    s.pop("captcha", None)
    return _to_index()


@phone_login.post("/verify")
def verify() -> BaseResponse:
    s = session()
    if "vid" not in s:
        return _to_index()
    code = request.form.get("code", "").strip()[:20]
    if not code:
        notice("empty_code")
        return _to_index()
    try:
        result = verify_code(s["vid"], code, client_ip=client_ip(), runtime=app_config().runtime)
    except ServiceUnavailable:
        notice("unavailable")
        return _to_index()
    if result.ok and result.phone:
        user = result.phone  # the number this code proved, whatever the form said
        csrf = secrets.token_urlsafe(32)
        s.clear()
        s.regenerate()
        s.update(user=user, csrf=csrf)
        return _to_index()
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
    return _to_index()


@phone_login.post("/resend")
def resend_code() -> BaseResponse:
    s = session()
    if "vid" not in s:
        return _to_index()
    try:
        # A resend is an SMS like any other: the same limits and the same captcha.
        resend(
            s["vid"],
            client_ip=client_ip(),
            captcha_token=captcha_token(),
            runtime=app_config().runtime,
        )
    except RequestRefused as exc:
        _refused(exc)
        if exc.code == "rate_limited" and exc.retry_after:
            s["resend_until"] = app_config().clock() + exc.retry_after
        elif exc.code == "not_allowed":
            _start_over()
        return _to_index()
    except VerificationNotFound:
        notice("expired")
        _start_over()
        return _to_index()
    except ServiceUnavailable:
        notice("unavailable")
        return _to_index()
    s.update(sent_at=app_config().clock(), resend_until=0, offer_new=False)
    s.pop("captcha", None)
    notice("resent")
    return _to_index()


@phone_login.post("/cancel")
def cancel_code() -> BaseResponse:
    s = session()
    if "vid" in s:
        with contextlib.suppress(VerificationNotFound, ServiceUnavailable):
            cancel(s["vid"], runtime=app_config().runtime)  # if this fails, it ends at its TTL
    _start_over()
    return _to_index()


@phone_login.post("/logout")
def logout() -> BaseResponse:
    s = session()
    s.clear()
    s.regenerate()
    s["csrf"] = secrets.token_urlsafe(32)
    notice("logged_out")
    return _to_index()


@phone_login.get("/events")
def events() -> Response:
    """Server-Sent Events: the delivery stage of this session's verification, live."""
    verification_id = session().get("vid")
    if not verification_id:
        return Response(status=204)  # tells EventSource to stop reconnecting
    return Response(
        stream(verification_id, app_config().runtime),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# -- what the views share -----------------------------------------------------------------------


def session() -> RedisSession:
    """This request's session (``sessions.py``), typed."""
    return flask_session  # type: ignore[return-value]


def lang() -> str:
    return request.accept_languages.best_match(LANGUAGES, default="ru") or "ru"


def texts() -> dict[str, str]:
    return TEXTS[lang()]


def notice(key: str, *, wait: int | None = None, typed: str = "", **params: Any) -> None:
    """A message for the next page (post/redirect/get); a wait becomes a deadline.
    ``typed`` refills the phone form once: a refused number is never kept beyond that."""
    until = app_config().clock() + wait if wait is not None else None
    session()["notice"] = {"key": key, "until": until, "params": params, "typed": typed}


def client_ip() -> str | None:
    return request.remote_addr


def captcha_token() -> str | None:
    widget = app_config().widget
    return (request.form.get(widget["field"]) or None) if widget else None


def resend_wait() -> int:
    """Seconds until the resend button may be used: the cooldown since the last send,
    or what a refused resend said, whichever is later."""
    s = session()
    cooldown = app_config().settings.codes.resend_cooldown_seconds
    return _seconds_until(max(s.get("sent_at", 0) + cooldown, s.get("resend_until", 0)))


def _seconds_until(deadline: float) -> int:
    """Whole seconds left, rounded up: a countdown never shows 0 while the wait still runs."""
    return max(0, int(deadline - app_config().clock() + 0.999))


def _refused(exc: RequestRefused, *, typed: str = "") -> None:
    if exc.code == "rate_limited":
        if exc.retry_after:
            notice("rate_limited", wait=exc.retry_after, typed=typed)
        else:
            notice("rate_limited_later", typed=typed)
    else:
        notice(exc.code if exc.code in TEXTS["ru"] else "invalid_ip", typed=typed)
    if exc.code in ("captcha_required", "captcha_failed"):
        session()["captcha"] = True


def _start_over() -> None:
    s = session()
    for name in ("vid", "sent_at", "resend_until", "offer_new"):
        s.pop(name, None)


def _to_index() -> BaseResponse:
    """Post/redirect/get: every form answers with the page of the step the session is at."""
    return redirect("/", 303)


def _error_page(key: str, status: int) -> Response:
    page = render_template("error.html", t=texts(), lang=lang(), message=texts()[key])
    return Response(page, status=status)


def _countdown(seconds: int, *, enables: str = "", hides: str = "") -> Markup:
    """A wait the page's script counts down; the server renders its first value."""
    return Markup(
        '<span class="countdown" data-seconds="{}" data-enables="{}" data-hides="{}">{}</span>'
    ).format(seconds, enables, hides, format_wait(seconds))


def _fill(template: str, **params: Any) -> Markup:
    """A message with its parameters; the text is escaped, countdown markup is kept."""
    return escape(template).format(**params)


def _mask(phone: str | None) -> str:
    """Enough of the E.164 number to recognise it, not enough to read it off a screen."""
    digits = [c for c in phone or "" if c.isdigit()]
    if len(digits) < 6:
        return "•" * len(digits)
    return "+" + "".join(digits[:4]) + "•" * (len(digits) - 6) + "".join(digits[-2:])


# -- running it ---------------------------------------------------------------------------------


def app_from_env(*, behind_proxy: bool = False, insecure_http: bool = False) -> Flask:
    """The app on the process-wide runtime (the workers' settings, from the environment), for
    ``main()`` or a WSGI server of your own. Raises ``SettingsError`` listing every bad setting.
    """
    config = AppConfig(
        get_runtime(), site_key=os.environ.get("CAPTCHA_SITE_KEY", ""), allow_http=insecure_http
    )
    app = create_app(config)
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
    load_dotenv_file()  # as the CLI does: the environment wins over the file
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
