"""``verify_code``: one atomic step decides whether the code typed is right, or why not."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from worker.api.producer.boundary import runtime_or_default, translated
from worker.api.producer.refusals import whole_seconds
from worker.api.producer.validation import client_ip_subject, require_code_text
from worker.core.codes import code_digest, is_verification_id, normalize_code, pseudonym
from worker.core.gate import HOUR_MS
from worker.core.outcomes import VerifyReason
from worker.errors import RequestRefused
from worker.runtime import Runtime

__all__ = ["VerifyResult", "verify_code"]

log = logging.getLogger("targetsms.producer")


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    reason: str  # a VerifyReason: ok, wrong, locked, expired, already_used, rate_limited, ...
    attempts_left: int
    retry_after: int | None = None  # rate_limited: seconds until guesses are allowed again
    # When ok (only then): the E.164 number this code proved, the identity to log in. Never
    # what the user typed or what the app remembers: those can name someone else's number.
    phone: str | None = field(default=None, repr=False)


@translated
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
    s = rt.settings
    try:
        ip = client_ip_subject(client_ip)
    except RequestRefused:
        return VerifyResult(ok=False, reason=VerifyReason.INVALID_IP, attempts_left=0)
    if not is_verification_id(verification_id):
        return VerifyResult(ok=False, reason=VerifyReason.UNKNOWN, attempts_left=0)
    typed = normalize_code(code)
    verdict = rt.store.verify(
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
