"""The producer API that web apps call: request, verify, inspect, resend, cancel.

The checks and steps are ``worker.api.flows``, shared with the asyncio API (``worker.aio``);
these run them on the caller's thread (``worker.api.io.run``) and hold no logic of their own.
"""

from __future__ import annotations

from worker.api import flows
from worker.api.boundary import runtime_or_default
from worker.api.flows.requesting import Asker
from worker.api.flows.validation import require_code_text
from worker.api.io import run
from worker.api.results import CodeRequest, VerificationStatus, VerifyResult
from worker.errors import RequestRefused, ServiceUnavailable, VerificationNotFound
from worker.runtime import Runtime

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
    rt = runtime_or_default(runtime)
    asker = Asker(client_ip=client_ip, captcha_token=captcha_token)
    return run(flows.request_code(rt, phone, asker, idempotency_key=idempotency_key), rt.store)


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
    rt = runtime_or_default(runtime)
    asker = Asker(client_ip=client_ip, captcha_token=captcha_token)
    return run(flows.resend(rt, verification_id, asker), rt.store)


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
    require_code_text(code)
    rt = runtime_or_default(runtime)
    return run(flows.verify_code(rt, verification_id, code, client_ip=client_ip), rt.store)


def get_status(verification_id: str, *, runtime: Runtime | None = None) -> VerificationStatus:
    return run(flows.get_status(verification_id), runtime_or_default(runtime).store)


def cancel(verification_id: str, *, runtime: Runtime | None = None) -> bool:
    """Stop a verification: its code no longer verifies. False when it was already verified."""
    return run(flows.cancel(verification_id), runtime_or_default(runtime).store)
