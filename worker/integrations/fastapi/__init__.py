"""Phone login for FastAPI: ``app.include_router(router, prefix="/auth/phone")``.

JSON endpoints over ``worker.aio`` (nothing blocks the loop): ``POST /request``, ``POST /check``,
``POST /resend``, ``GET /status``. The verification id stays in a signed, HttpOnly cookie (never
a token that carries the code); the client's address is the TCP peer unless
``OTP_TRUSTED_PROXY_HEADER`` names the header a trusted proxy sets. A successful check leaves a
short-lived signed proof; the app's own login route takes the phone it proves with
``Depends(verified_phone)``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from worker import aio
from worker.errors import RequestRefused, ServiceUnavailable, VerificationNotFound
from worker.integrations.common import (
    PENDING_COOKIE,
    VERIFIED_COOKIE,
    VERIFIED_MAX_AGE,
    client_address,
    refusal_status,
    sign,
    unsign,
)
from worker.runtime import get_runtime
from worker.settings import Settings

__all__ = ["VerifiedPhone", "router", "verified_phone"]


class PhoneForm(BaseModel):
    phone: str = Field(min_length=1, max_length=64)
    captcha_token: str | None = Field(default=None, max_length=4096)


class CodeForm(BaseModel):
    code: str = Field(min_length=1, max_length=32)


class ResendForm(BaseModel):
    captcha_token: str | None = Field(default=None, max_length=4096)


def _settings() -> Settings:
    return get_runtime().settings


def _ip(request: Request) -> str | None:
    peer = request.client.host if request.client else None
    return client_address(_settings(), peer, request.headers.get) or None


def _no_verification() -> HTTPException:
    return HTTPException(404, {"error": "no_verification", "message": "request a code first"})


def _pending(request: Request) -> str:
    s = _settings()
    found = unsign(
        s, "pending", request.cookies.get(PENDING_COOKIE), max_age=s.codes.record_ttl_seconds
    )
    if found is None:
        raise _no_verification()
    return found


def _set_cookie(response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=_settings().web.cookie_secure,
        path="/",
    )


def _refused(exc: RequestRefused) -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    return JSONResponse(exc.as_dict(), status_code=refusal_status(exc.code), headers=headers)


router = APIRouter(tags=["phone login"])


@router.post("/request", status_code=202, response_model=None)
async def request_code(form: PhoneForm, request: Request, response: Response) -> Any:
    """Send a code to ``phone``; the verification is remembered in a cookie."""
    try:
        req = await aio.request_code(
            form.phone, client_ip=_ip(request), captcha_token=form.captcha_token
        )
    except RequestRefused as exc:
        return _refused(exc)
    except ServiceUnavailable as exc:
        return JSONResponse({"error": "unavailable", "message": str(exc)}, status_code=503)
    s = _settings()
    _set_cookie(response, PENDING_COOKIE, sign(s, "pending", req.id), s.codes.record_ttl_seconds)
    return {"state": req.state, "resend_after": s.codes.resend_cooldown_seconds}


@router.post("/check", response_model=None)
async def check(form: CodeForm, request: Request, response: Response) -> Any:
    """Check the typed code against the verification in the cookie."""
    verification_id = _pending(request)
    try:
        result = await aio.verify_code(verification_id, form.code, client_ip=_ip(request))
    except ServiceUnavailable as exc:
        return JSONResponse({"error": "unavailable", "message": str(exc)}, status_code=503)
    if not result.ok:
        body = {"ok": False, "reason": result.reason, "attempts_left": result.attempts_left}
        if result.retry_after is not None:
            body["retry_after"] = result.retry_after
        return JSONResponse(body, status_code=429 if result.retry_after else 400)
    response.delete_cookie(PENDING_COOKIE, path="/")
    _set_cookie(
        response, VERIFIED_COOKIE, sign(_settings(), "verified", verification_id), VERIFIED_MAX_AGE
    )
    return {"ok": True}


@router.post("/resend", status_code=202, response_model=None)
async def resend(form: ResendForm, request: Request) -> Any:
    verification_id = _pending(request)
    try:
        req = await aio.resend(
            verification_id, client_ip=_ip(request), captcha_token=form.captcha_token
        )
    except RequestRefused as exc:
        return _refused(exc)
    except VerificationNotFound:
        raise _no_verification() from None
    except ServiceUnavailable as exc:
        return JSONResponse({"error": "unavailable", "message": str(exc)}, status_code=503)
    return {"state": req.state, "resend_after": _settings().codes.resend_cooldown_seconds}


@router.get("/status", response_model=None)
async def status(request: Request) -> Any:
    """Where the SMS is (queued, sent, delivered...); never the number or the code."""
    verification_id = _pending(request)
    try:
        st = await aio.get_status(verification_id)
    except VerificationNotFound:
        raise _no_verification() from None
    except ServiceUnavailable as exc:
        return JSONResponse({"error": "unavailable", "message": str(exc)}, status_code=503)
    return {
        "state": st.state,
        "delivery_status": st.delivery_status,
        "attempts_left": st.attempts_left,
        "sends": st.sends,
        "expires_at": st.expires_at,
    }


async def verified_phone(request: Request, response: Response) -> str:
    """The E.164 number this browser just proved (once: the proof is cleared), or 401."""
    verification_id = unsign(
        _settings(), "verified", request.cookies.get(VERIFIED_COOKIE), max_age=VERIFIED_MAX_AGE
    )
    phone = None
    if verification_id is not None:
        try:
            st = await aio.get_status(verification_id)
        except VerificationNotFound:
            st = None
        phone = st.phone if st is not None and st.state == "verified" else None
    if phone is None:
        raise HTTPException(401, {"error": "not_verified", "message": "verify a code first"})
    response.delete_cookie(VERIFIED_COOKIE, path="/")
    return phone


#: ``phone: VerifiedPhone`` in a route's parameters: the number just verified.
VerifiedPhone = Annotated[str, Depends(verified_phone)]
