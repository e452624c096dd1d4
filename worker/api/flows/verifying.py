"""``verify_code``: one atomic step decides whether the code typed is right, or why not."""

from __future__ import annotations

import logging

from worker.api.flows.refusals import whole_seconds
from worker.api.flows.validation import client_ip_subject
from worker.api.io import Flow, on_store
from worker.api.results import VerifyResult
from worker.core.codes import code_digest, is_verification_id, normalize_code, pseudonym
from worker.core.gate import HOUR_MS
from worker.core.outcomes import VerifyReason
from worker.errors import RequestRefused
from worker.runtime import Runtime
from worker.store import Store

__all__ = ["verify_code"]

log = logging.getLogger("targetsms.producer")


def verify_code(
    rt: Runtime, verification_id: str, code: str, *, client_ip: str | None
) -> Flow[VerifyResult]:
    """``code`` is a str: the wrappers check that first (``require_code_text``), before they
    even resolve a runtime."""
    s = rt.settings
    try:
        ip = client_ip_subject(client_ip)
    except RequestRefused:
        return VerifyResult(ok=False, reason=VerifyReason.INVALID_IP, attempts_left=0)
    if not is_verification_id(verification_id):
        return VerifyResult(ok=False, reason=VerifyReason.UNKNOWN, attempts_left=0)
    typed = normalize_code(code)
    verdict = yield from on_store(
        Store.verify,
        verification_id,
        [code_digest(key, verification_id, typed) for key in s.verify_secrets],
        verifier_key=pseudonym(rt.pseudonym_secret, "ip", ip) if ip else None,
        window_ms=HOUR_MS,
        phone_limit=s.limits.verify_max_per_phone_per_hour,
        ip_limit=s.limits.verify_max_per_ip_per_hour,
        pumping_window_ms=s.abuse.pumping_window_seconds * 1000,
    )
    reason, left = verdict.reason, verdict.attempts_left
    if reason is VerifyReason.RATE_LIMITED:
        log.warning("verify %s refused: too many wrong codes for this phone or IP", verification_id)
        wait = whole_seconds(verdict.retry_after_ms)
        return VerifyResult(ok=False, reason=reason, attempts_left=left, retry_after=wait)
    if reason is not VerifyReason.OK:
        log.info("verify %s: %s (attempts left %d)", verification_id, reason, left)
        return VerifyResult(ok=False, reason=reason, attempts_left=left)
    return VerifyResult(ok=True, reason=reason, attempts_left=left, phone=verdict.phone)
