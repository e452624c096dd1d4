"""Calls through the SMS gate for the service tests of its rules (limits, deny list, captcha,
guessing): a runtime on the in-memory provider, and a refusal read as its stable code."""

from __future__ import annotations

from collections.abc import Callable

from helpers import make_settings

from worker import RequestRefused, request_code, resend
from worker.providers.memory import InMemoryProvider
from worker.runtime import Runtime
from worker.steps.sending import send_verification

__all__ = ["PHONE", "attempt", "refusal", "resent", "runtime", "sent"]

PHONE = "+79001234567"


def runtime(redis_url: str, sms: InMemoryProvider, **overrides: object) -> Runtime:
    return Runtime.from_settings(make_settings(redis_url, **overrides), provider=sms)


def refusal(call: Callable[[], object]) -> str:
    """The refusal code of ``call()``, or 'ok'."""
    try:
        call()
    except RequestRefused as exc:
        return exc.code
    return "ok"


def attempt(rt: Runtime, phone: str, **kwargs: object) -> str:
    """Request a code: 'ok' or the refusal code."""
    return refusal(lambda: request_code(phone, runtime=rt, **kwargs))  # type: ignore[arg-type]


def sent(rt: Runtime, phone: str = PHONE, ip: str | None = None) -> str:
    """Request a code and send it; the verification's id."""
    req = request_code(phone, client_ip=ip, runtime=rt)
    assert send_verification(rt, req.id).result == "sent"
    return req.id


def resent(rt: Runtime, verification_id: str, **kwargs: object) -> str:
    """Resend and send; 'ok' or the refusal code."""
    code = refusal(lambda: resend(verification_id, runtime=rt, **kwargs))  # type: ignore[arg-type]
    if code == "ok":
        assert send_verification(rt, verification_id).result == "sent"
    return code
