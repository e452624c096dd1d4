"""The producer API that web apps call: request, verify, inspect, resend, cancel.

Each call is a few Redis round trips and never talks to the gateway, so a web request stays
fast whatever TargetSMS does. The checks and steps are ``worker.api.flows``, shared with the
asyncio API (``worker.aio``); these run them on the caller's thread.
"""

from __future__ import annotations

from worker.api import flows
from worker.api.io import run
from worker.api.results import CodeRequest, VerificationStatus, VerifyResult
from worker.errors import RequestRefused, ServiceUnavailable, VerificationNotFound
from worker.runtime import Runtime, get_runtime

__all__ = [
    "CodeRequest",
    "RequestRefused",
    "ServiceUnavailable",
    "VerificationNotFound",
    "VerificationStatus",
    "VerifyResult",
    "cancel",
    "get_status",
    "request_code",
    "resend",
    "verify_code",
]


def _rt(runtime: Runtime | None) -> Runtime:
    return runtime if runtime is not None else get_runtime()


def request_code(
    phone: str,
    *,
    client_ip: str | None = None,
    captcha_token: str | None = None,
    idempotency_key: str | None = None,
    runtime: Runtime | None = None,
) -> CodeRequest:
    """Check the number, the captcha and every limit, record the request and queue the send.

    An ``idempotency_key`` is scoped by phone: the same key returns this phone's earlier
    verification (within the code TTL), never another phone's. Raises ``RequestRefused`` for
    an expected refusal, ``ServiceUnavailable`` when Redis or the broker is down (nothing is
    spent then), ``SettingsError`` for a bad deployment, ``TypeError`` for a non-string
    ``client_ip``.
    """
    rt = _rt(runtime)
    flow = flows.request_code(
        rt,
        phone,
        client_ip=client_ip,
        captcha_token=captcha_token,
        idempotency_key=idempotency_key,
    )
    return run(flow, rt.store)


def resend(
    verification_id: str,
    *,
    client_ip: str | None = None,
    captcha_token: str | None = None,
    runtime: Runtime | None = None,
) -> CodeRequest:
    """Send a new code for the same verification; the previous code stops working at once.

    The SMS passes the same gate as a first request: every limit, the deny list, the country
    policy, the captcha (step-up included) and the pumping guard.
    """
    rt = _rt(runtime)
    flow = flows.resend(rt, verification_id, client_ip=client_ip, captcha_token=captcha_token)
    return run(flow, rt.store)


def verify_code(
    verification_id: str,
    code: str,
    *,
    client_ip: str | None = None,
    runtime: Runtime | None = None,
) -> VerifyResult:
    """One atomic Redis step: the code is right (and now used up), or why not.

    ``client_ip`` makes wrong codes count per verifying IP too; one that is not an address
    answers ``invalid_ip`` without comparing (so no attempt is spent). ``code`` must be a
    string: an int would lose leading zeros and burn an attempt, so it is a ``TypeError``.
    """
    rt = _rt(runtime)
    return run(flows.verify_code(rt, verification_id, code, client_ip=client_ip), rt.store)


def get_status(verification_id: str, *, runtime: Runtime | None = None) -> VerificationStatus:
    return run(flows.get_status(verification_id), _rt(runtime).store)


def cancel(verification_id: str, *, runtime: Runtime | None = None) -> bool:
    """Stop a verification: its code no longer verifies. False when it was already verified."""
    return run(flows.cancel(verification_id), _rt(runtime).store)
