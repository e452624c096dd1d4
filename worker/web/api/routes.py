"""The HTTP API's core, free of any server: route, authenticate, own, call the producer API.

Each route calls the same ``worker.api.producer`` function a Python app calls, so an HTTP
caller gets exactly the same gate, limits and answers; what this adds is the key, ownership and
the per-key limits and counters. A verification belongs to the key that made it: for any other
key it does not exist (404, the same answer as a wrong id, so ids cannot be probed).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

from worker.api.producer import cancel, get_status, request_code, resend, verify_code
from worker.errors import RequestRefused, ServiceUnavailable, VerificationNotFound
from worker.runtime import Runtime
from worker.web.api.answers import (
    INTERNAL,
    NO_ROUTE,
    NOT_FOUND,
    REFUSAL_STATUS,
    UNAUTHORIZED,
    UNAVAILABLE,
    Answer,
    error,
    ok,
)
from worker.web.api.auth import Caller, authenticate
from worker.web.api.bodies import (
    MAX_BODY_BYTES,
    BadRequest,
    CheckBody,
    CreateBody,
    ResendBody,
    idempotency_key,
    parse_object,
)

__all__ = ["OPENAPI", "ApiRequest", "VerificationsApi"]

log = logging.getLogger("targetsms.api")

#: The committed OpenAPI document, served as it is (tests check the two are one).
OPENAPI = (resources.files(__package__) / "openapi.json").read_bytes()

_ITEM = re.compile(r"/v1/verifications/([^/]+)(?:/(check|resend|cancel))?")


@dataclass(frozen=True, slots=True)
class ApiRequest:
    method: str
    path: str
    authorization: str | None
    idempotency_key: str | None
    body: bytes | None  # None: over MAX_BODY_BYTES


Handler = Callable[[Caller, ApiRequest, str], Answer]


class VerificationsApi:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    def handle(self, request: ApiRequest) -> Answer:
        try:
            return self._route(request)
        except BadRequest as exc:
            return error(400, exc.code, exc.message)
        except RequestRefused as exc:
            headers = (("Retry-After", str(exc.retry_after)),) if exc.retry_after else ()
            if exc.code == "rate_limited" and not headers:
                headers = (("Retry-After", "60"),)
            return error(REFUSAL_STATUS.get(exc.code, 400), exc.code, exc.message, *headers)
        except VerificationNotFound:
            return NOT_FOUND
        except ServiceUnavailable as exc:
            log.warning("api: unavailable (%s)", type(exc).__name__)
            return UNAVAILABLE
        except Exception as exc:  # a bug: say which, never the values
            log.error("api: unexpected %s", type(exc).__name__)
            return INTERNAL

    def _route(self, request: ApiRequest) -> Answer:
        path, method = request.path, request.method
        if path == "/openapi.json":
            if method not in ("GET", "HEAD"):
                return _not_allowed("GET")
            return Answer(200, OPENAPI)
        handler, allowed = self._handler(path, method)
        if handler is None and allowed is None:
            return NO_ROUTE
        match = _ITEM.fullmatch(path)
        verification_id = match.group(1) if match else ""
        caller = authenticate(self.rt.store, request.authorization, verification_id)
        if caller is None:
            return UNAUTHORIZED
        if handler is None:
            return _not_allowed(allowed or "POST")
        if request.body is None:
            return error(413, "too_large", f"the body is larger than {MAX_BODY_BYTES} bytes")
        try:
            return handler(caller, request, verification_id)
        except RequestRefused as exc:
            self.rt.store.count_api_outcome(caller.key.name, f"refused:{exc.code}")
            raise

    def _handler(self, path: str, method: str) -> tuple[Handler | None, str | None]:
        """The handler for this path and method; (None, allowed methods) for a known path."""
        if path == "/v1/verifications":
            return (self._create, "POST") if method == "POST" else (None, "POST")
        match = _ITEM.fullmatch(path)
        if match is None:
            return None, None
        action = match.group(2)
        if action is None:
            return (self._status, "GET") if method in ("GET", "HEAD") else (None, "GET")
        handlers = {"check": self._check, "resend": self._resend, "cancel": self._cancel}
        return (handlers[action], "POST") if method == "POST" else (None, "POST")

    # --- routes ------------------------------------------------------------------------------

    def _create(self, caller: Caller, request: ApiRequest, _: str) -> Answer:
        idem = idempotency_key(request.idempotency_key)
        body = CreateBody.parse(request.body or b"")
        made = request_code(
            body.phone,
            client_ip=body.client_ip,
            captcha_token=body.captcha_token,
            # Scoped by key as well as by phone: one site's key never returns another's.
            idempotency_key=f"{caller.key.name}\n{idem}" if idem else None,
            site=caller.key,
            runtime=self.rt,
        )
        return ok(201, {"id": made.id, "state": made.state, "created": made.created})

    def _status(self, caller: Caller, request: ApiRequest, verification_id: str) -> Answer:
        _require_owner(caller)
        return ok(200, get_status(verification_id, runtime=self.rt).as_dict())

    def _check(self, caller: Caller, request: ApiRequest, verification_id: str) -> Answer:
        body = CheckBody.parse(request.body or b"")
        _require_owner(caller)
        result = verify_code(verification_id, body.code, client_ip=body.client_ip, runtime=self.rt)
        return ok(
            200,
            {
                "ok": result.ok,
                "reason": result.reason,
                "attempts_left": result.attempts_left,
                "retry_after": result.retry_after,
                "phone": result.phone if result.ok else None,
            },
        )

    def _resend(self, caller: Caller, request: ApiRequest, verification_id: str) -> Answer:
        body = ResendBody.parse(request.body or b"")
        _require_owner(caller)
        made = resend(
            verification_id,
            client_ip=body.client_ip,
            captcha_token=body.captcha_token,
            site=caller.key,
            runtime=self.rt,
        )
        return ok(200, {"id": made.id, "state": made.state, "created": made.created})

    def _cancel(self, caller: Caller, request: ApiRequest, verification_id: str) -> Answer:
        parse_object(request.body or b"", empty_ok=True)
        _require_owner(caller)
        canceled = cancel(verification_id, runtime=self.rt)
        state = "canceled" if canceled else "verified"
        return ok(200, {"id": verification_id, "state": state, "canceled": canceled})


def _require_owner(caller: Caller) -> None:
    """Raise ``VerificationNotFound`` unless the caller's key made the verification the path
    names (looked up with the key itself, ``auth.py``)."""
    if not caller.owns_target:
        raise VerificationNotFound("no such verification")


def _not_allowed(allowed: str) -> Answer:
    return error(405, "method_not_allowed", f"use {allowed}", ("Allow", allowed))
