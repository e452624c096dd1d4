"""The phone-login pages: number, then code; the verification id lives in the session."""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth import authenticate, login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from worker.api.producer import request_code, resend
from worker.errors import RequestRefused, ServiceUnavailable, VerificationNotFound
from worker.integrations.django import conf
from worker.integrations.django.texts import language, request_language, texts
from worker.integrations.django.web import client_ip

_SESSION = "targetsms_verification"
_SENT_AT = "targetsms_sent_at"
#: The form field each captcha widget fills with its token.
TOKEN_FIELDS = {
    "yandex": "smart-token",
    "recaptcha": "g-recaptcha-response",
    "hcaptcha": "h-captcha-response",
    "turnstile": "cf-turnstile-response",
}


def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    s = conf.runtime().settings
    provider = s.captcha.provider if s.captcha.mode != "off" else ""
    return {
        "t": texts(request),
        "lang": language(request),
        "captcha_provider": provider,
        "captcha_site_key": conf.options().get("CAPTCHA_SITE_KEY", ""),
        **extra,
    }


def _token(request: HttpRequest) -> str | None:
    provider = conf.runtime().settings.captcha.provider
    return request.POST.get(TOKEN_FIELDS.get(provider, ""), "") or None


def _refusal(request: HttpRequest, exc: RequestRefused) -> str:
    t = texts(request)
    if exc.code in ("country_not_allowed", "phone_not_allowed"):
        return t["not_allowed"]
    return t.get(exc.code, t["other"])


@require_http_methods(["GET", "POST"])
def phone(request: HttpRequest) -> HttpResponse:
    error = ""
    if request.method == "POST":
        try:
            req = request_code(
                request.POST.get("phone", ""),
                client_ip=client_ip(request),
                captcha_token=_token(request),
                locale=request_language(request),
                runtime=conf.runtime(),
            )
        except RequestRefused as exc:
            error = _refusal(request, exc)
        except ServiceUnavailable:
            error = texts(request)["unavailable"]
        else:
            request.session[_SESSION] = req.id
            request.session[_SENT_AT] = time.time()
            return redirect("targetsms:code")
    # A refused number stays in the field, so a typo is fixed rather than typed again.
    typed = request.POST.get("phone", "") if request.method == "POST" else ""
    context = _context(request, error=error, phone=typed)
    return render(request, "targetsms/phone.html", context, status=200)


def _wait(request: HttpRequest) -> int:
    cooldown = conf.runtime().settings.codes.resend_cooldown_seconds
    sent_at = float(request.session.get(_SENT_AT, 0))
    return max(0, int(sent_at + cooldown - time.time() + 0.999))


@require_http_methods(["GET", "POST"])
def code(request: HttpRequest) -> HttpResponse:
    verification_id = request.session.get(_SESSION)
    if not verification_id:
        return redirect("targetsms:phone")
    error = ""
    if request.method == "POST":
        user = authenticate(
            request, verification_id=verification_id, code=request.POST.get("code", "")
        )
        if user is not None:
            request.session.pop(_SESSION, None)
            login(request, user, backend="worker.integrations.django.backends.PhoneBackend")
            return redirect(conf.options().get("LOGIN_REDIRECT", "/"))
        result = getattr(request, "targetsms_result", None)
        reason = result.reason if result is not None else "other"
        error = texts(request).get(reason, texts(request)["other"])
    context = _context(request, error=error, wait=_wait(request))
    return render(request, "targetsms/code.html", context)


@require_http_methods(["POST"])
def resend_code(request: HttpRequest) -> HttpResponse:
    verification_id = request.session.get(_SESSION)
    if not verification_id:
        return redirect("targetsms:phone")
    try:
        resend(
            verification_id,
            client_ip=client_ip(request),
            captcha_token=_token(request),
            runtime=conf.runtime(),
        )
    except RequestRefused as exc:
        context = _context(request, error=_refusal(request, exc), wait=_wait(request))
        return render(request, "targetsms/code.html", context, status=429)
    except (ServiceUnavailable, VerificationNotFound):
        return redirect("targetsms:phone")
    request.session[_SENT_AT] = time.time()
    return redirect("targetsms:code")
