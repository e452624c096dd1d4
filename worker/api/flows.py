"""The producer API's checks and steps, written once for the thread and the asyncio API.

Each call is a few Redis round trips and never talks to the gateway, so a web request stays
fast whatever TargetSMS does. Every SMS -- a first request or a resend -- passes the same gate
(``_gate``, then ``admit_sms`` in the store). Expected refusals are exceptions with a stable
``code``; the caller is told *that* it was limited and for how long, never *which* limit fired.
Each flow yields its I/O (``worker.api.io``) instead of doing it.
"""

from __future__ import annotations

import contextlib
import logging

from worker.api.gate import sms_gate
from worker.api.io import Flow, blocking, on_store
from worker.api.results import CodeRequest, VerificationStatus, VerifyResult
from worker.core.codes import (
    code_digest,
    is_verification_id,
    new_verification_id,
    normalize_code,
    pseudonym,
)
from worker.core.gate import HOUR_MS, SmsGate, ip_subject
from worker.core.outcomes import RecordState, RefusalCode, VerifyReason
from worker.core.phone import InvalidPhone, Phone, parse_phone
from worker.errors import RequestRefused, VerificationNotFound
from worker.queue.base import QueueUnavailable
from worker.runtime import Runtime
from worker.store import CancelOutcome, Refusal, ResendOutcome, Store, StoreUnavailable

__all__ = ["cancel", "get_status", "request_code", "resend", "verify_code"]

log = logging.getLogger("targetsms.producer")

_TOO_MANY = "too many requests; try again later"
_NOT_FOUND = "no such verification"
_CAPTCHA = "complete the captcha and try again"
_NO_COUNTRY = "SMS to this country is not enabled"


def _seconds(ms: int) -> int:
    return max(1, -(-int(ms) // 1000))


def _client_ip(client_ip: object) -> str | None:
    """The unit an IP is counted by; ``TypeError`` for a non-string (a programming error)."""
    if client_ip is not None and not isinstance(client_ip, str):
        raise TypeError(f"client_ip must be a str or None, not {type(client_ip).__name__}")
    if not client_ip:
        return None
    try:
        return ip_subject(client_ip)
    except ValueError:
        raise RequestRefused(RefusalCode.INVALID_IP, "client_ip is not an IP address") from None


def _refuse(
    code: RefusalCode, message: str, why: str = "", retry_after: int | None = None
) -> Flow[RequestRefused]:
    """The caller gets ``code``; the log line and the counters say which check fired."""
    reason = why or code
    log.warning("refused %s (%s)", code, reason)
    # A refusal is already decided; losing its counter must not fail it.
    with contextlib.suppress(StoreUnavailable):
        yield from on_store(Store.count_refusal, reason)
    return RequestRefused(code, message, retry_after=retry_after)


def _refused(refusal: Refusal) -> Flow[RequestRefused]:
    if refusal.why.startswith("global_"):
        log.error("SMS budget reached (%s): refusing requests", refusal.why)
    messages = {
        RefusalCode.PHONE_NOT_ALLOWED: "SMS to this number is not enabled",
        RefusalCode.CAPTCHA_REQUIRED: _CAPTCHA,
    }
    wait = _seconds(refusal.retry_after_ms) if refusal.retry_after_ms else None
    message = messages.get(refusal.code, _TOO_MANY)
    return (yield from _refuse(refusal.code, message, refusal.why, wait))


def _check_captcha(rt: Runtime, token: str | None, client_ip: str | None) -> Flow[bool]:
    """True when a token was given and the provider accepted it."""
    mode = rt.settings.captcha.mode
    if mode == "off" or (mode == "step_up" and not token):
        return False
    if not token:
        raise (yield from _refuse(RefusalCode.CAPTCHA_REQUIRED, _CAPTCHA))
    result = yield from blocking(rt.captcha.verify, token, client_ip)
    if not result.ok:
        why = f"captcha_{result.reason}"
        raise (yield from _refuse(RefusalCode.CAPTCHA_FAILED, "the captcha was not accepted", why))
    if result.reason != "ok":
        log.warning("captcha passed by failing open (%s)", result.reason)
    return True


def _gate(
    rt: Runtime,
    phone: Phone,
    *,
    ip: str | None,
    client_ip: str | None,
    captcha_token: str | None,
) -> Flow[SmsGate]:
    """The checks one SMS passes before the store's atomic step: country, deny list, captcha."""
    if phone.region not in rt.settings.abuse.allowed_countries:
        raise (yield from _refuse(RefusalCode.COUNTRY_NOT_ALLOWED, _NO_COUNTRY))
    if any(phone.e164.startswith(p) for p in rt.settings.abuse.deny_prefixes):
        raise (
            yield from _refuse(
                RefusalCode.PHONE_NOT_ALLOWED, "SMS to this number is not enabled", "deny_list"
            )
        )
    passed = yield from _check_captcha(rt, captcha_token, client_ip)
    return sms_gate(
        rt.settings, phone=phone.e164, region=phone.region, ip=ip, captcha_passed=passed
    )


def _publish(
    rt: Runtime, verification_id: str, gate: SmsGate, sends: int, idem: str | None = None
) -> Flow[None]:
    """Queue the send; when the broker does not take it, give back what the gate counted."""
    try:
        yield from blocking(rt.queue.enqueue_send, verification_id)
    except QueueUnavailable:
        log.error("broker unavailable, send of %s withdrawn", verification_id)
        yield from on_store(
            Store.abandon,
            gate,
            verification_id=verification_id,
            sends=sends,
            idempotency_digest=idem,
        )
        raise


def _log_pumping(rt: Runtime, gate: SmsGate) -> None:
    a = rt.settings.abuse
    log.warning(
        "pumping suspected: prefix %s… converts below %.0f%% over %d s; %s for %d s",
        gate.phone[:5],
        a.pumping_min_conversion * 100,
        a.pumping_window_seconds,
        "refusing" if gate.pumping.refuse else "captcha required",
        a.pumping_cooloff_seconds,
    )


def request_code(
    rt: Runtime,
    phone: str,
    *,
    client_ip: str | None,
    captcha_token: str | None,
    idempotency_key: str | None,
) -> Flow[CodeRequest]:
    s = rt.settings
    ip = _client_ip(client_ip)
    try:
        parsed = parse_phone(phone, s.abuse.default_region)
    except InvalidPhone as exc:
        raise (yield from _refuse(RefusalCode.INVALID_PHONE, str(exc))) from None
    gate = yield from _gate(rt, parsed, ip=ip, client_ip=client_ip, captcha_token=captcha_token)
    idem = (
        pseudonym(rt.pseudonym_secret, "idem", f"{parsed.e164}\n{idempotency_key}")
        if idempotency_key
        else None
    )
    verification_id = new_verification_id()
    out = yield from on_store(
        Store.create,
        gate,
        verification_id=verification_id,
        idempotency_digest=idem,
        idempotency_ttl_ms=s.codes.ttl_seconds * 1000,
        record_ttl_ms=s.codes.record_ttl_seconds * 1000,
        send_window_ms=s.codes.send_deadline_seconds * 1000,
        max_attempts=s.codes.max_attempts,
    )
    if isinstance(out, Refusal):
        raise (yield from _refused(out))
    if out.existing:
        # A replayed key (rare): one more read, so the answer carries the record's real state.
        record, _ = yield from on_store(Store.load, out.id)
        return CodeRequest(id=out.id, state=RecordState(record["state"]), created=False)
    if out.pumping_flagged:
        _log_pumping(rt, gate)
    yield from _publish(rt, verification_id, gate, 1, idem)
    log.info("queued %s region=%s", verification_id, parsed.region)
    return CodeRequest(id=verification_id, state=RecordState.QUEUED, created=True)


def resend(
    rt: Runtime, verification_id: str, *, client_ip: str | None, captcha_token: str | None
) -> Flow[CodeRequest]:
    s = rt.settings
    ip = _client_ip(client_ip)
    if not is_verification_id(verification_id):
        raise VerificationNotFound(_NOT_FOUND)
    subject = yield from on_store(Store.sms_subject, verification_id)
    if subject is None:
        raise VerificationNotFound(_NOT_FOUND)
    phone = Phone(e164=subject.phone, region=subject.region)
    gate = yield from _gate(rt, phone, ip=ip, client_ip=client_ip, captcha_token=captcha_token)
    out = yield from on_store(
        Store.resend,
        gate,
        verification_id=verification_id,
        sends=subject.sends,
        send_window_ms=s.codes.send_deadline_seconds * 1000,
        max_attempts=s.codes.max_attempts,
        max_sends=s.codes.max_sends,
        record_ttl_ms=s.codes.record_ttl_seconds * 1000,
    )
    if isinstance(out, Refusal):
        raise (yield from _refused(out))
    outcome, state = out
    if outcome is ResendOutcome.MISSING:
        raise VerificationNotFound(_NOT_FOUND)
    if outcome in (ResendOutcome.IN_FLIGHT, ResendOutcome.CHANGED):
        return CodeRequest(id=verification_id, state=RecordState.QUEUED, created=False)
    if outcome is ResendOutcome.NOT_ALLOWED:
        raise RequestRefused(RefusalCode.NOT_ALLOWED, f"a {state} verification cannot be resent")
    yield from _publish(rt, verification_id, gate, subject.sends + 1)
    log.info("resend queued %s", verification_id)
    return CodeRequest(id=verification_id, state=RecordState.QUEUED, created=True)


def verify_code(
    rt: Runtime, verification_id: str, code: str, *, client_ip: str | None
) -> Flow[VerifyResult]:
    if not isinstance(code, str):
        raise TypeError(f"code must be a str (as typed), not {type(code).__name__}")
    s = rt.settings
    try:
        ip = _client_ip(client_ip)
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
        wait = _seconds(verdict.retry_after_ms)
        return VerifyResult(ok=False, reason=reason, attempts_left=left, retry_after=wait)
    if reason is not VerifyReason.OK:
        log.info("verify %s: %s (attempts left %d)", verification_id, reason, left)
        return VerifyResult(ok=False, reason=reason, attempts_left=left)
    return VerifyResult(ok=True, reason=reason, attempts_left=left, phone=verdict.phone)


def _int(value: str | None) -> int | None:
    return int(float(value)) if value else None


def get_status(verification_id: str) -> Flow[VerificationStatus]:
    if not is_verification_id(verification_id):
        raise VerificationNotFound(_NOT_FOUND)
    record, history = yield from on_store(Store.load, verification_id)
    if not record:
        raise VerificationNotFound(_NOT_FOUND)
    error = None
    if record.get("error_code"):
        error = {"code": record["error_code"], "message": record.get("error_message", "")}
    return VerificationStatus(
        id=verification_id,
        state=record.get("state", "unknown"),
        delivery_status=record.get("delivery_status") or None,
        id_sms=record.get("id_sms") or None,
        error=error,
        attempts_left=_int(record.get("attempts_left")) or 0,
        sends=_int(record.get("sends")) or 0,
        created_at=_int(record.get("created_at")),
        sent_at=_int(record.get("sent_at")),
        expires_at=_int(record.get("expires_at")),
        history=history,
        phone=record.get("phone") or None,
    )


def cancel(verification_id: str) -> Flow[bool]:
    if not is_verification_id(verification_id):
        raise VerificationNotFound(_NOT_FOUND)
    canceled = yield from on_store(Store.cancel, verification_id)
    if canceled.outcome is CancelOutcome.MISSING:
        raise VerificationNotFound(_NOT_FOUND)
    return canceled.outcome is CancelOutcome.CANCELED
