"""The producer API that web apps call: request, verify, inspect, resend, cancel.

Each call is a few Redis round trips and never talks to the gateway, so a web request stays
fast whatever TargetSMS does. Every SMS -- a first request or a resend -- passes the same gate
(``_gate``, then ``admit_sms`` in the store). Expected refusals are exceptions with a stable
``code``; the caller is told *that* it was limited and for how long, never *which* limit fired.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from worker.api.gate import sms_gate
from worker.core.api_keys import ApiKey
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
from worker.errors import RequestRefused, ServiceUnavailable, VerificationNotFound
from worker.queue.base import QueueUnavailable
from worker.runtime import Runtime, get_runtime
from worker.store import CancelOutcome, Refusal, ResendOutcome, StoreUnavailable

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

log = logging.getLogger("targetsms.producer")

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class CodeRequest:
    id: str
    state: RecordState  # queued for a new request; an earlier request's own state otherwise
    created: bool  # False when an idempotency key returned an earlier request


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    reason: str  # a VerifyReason: ok, wrong, locked, expired, already_used, rate_limited, ...
    attempts_left: int
    retry_after: int | None = None  # rate_limited: seconds until guesses are allowed again
    # When ok (only then): the E.164 number this code proved, the identity to log in. Never
    # what the user typed or what the app remembers: those can name someone else's number.
    phone: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class VerificationStatus:
    id: str
    state: str
    delivery_status: str | None
    id_sms: str | None
    error: dict[str, str] | None
    attempts_left: int
    sends: int
    created_at: int | None
    sent_at: int | None
    expires_at: int | None
    history: list[dict[str, Any]] = field(default_factory=list)
    # The E.164 number the code goes (or went) to; not in repr or as_dict, which get printed.
    phone: str | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "delivery_status": self.delivery_status,
            "id_sms": self.id_sms,
            "error": self.error,
            "attempts_left": self.attempts_left,
            "sends": self.sends,
            "created_at": self.created_at,
            "sent_at": self.sent_at,
            "expires_at": self.expires_at,
            "history": self.history,
        }


_TOO_MANY = "too many requests; try again later"
_NOT_FOUND = "no such verification"


def _translated(fn: Callable[P, R]) -> Callable[P, R]:
    """Redis or broker trouble reaches the caller as one exception, ``ServiceUnavailable``."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (StoreUnavailable, QueueUnavailable) as exc:
            log.error("%s", exc)
            raise ServiceUnavailable(f"{exc}; try again shortly") from None

    return wrapper


def _rt(runtime: Runtime | None) -> Runtime:
    return runtime if runtime is not None else get_runtime()


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
    rt: Runtime, code: RefusalCode, message: str, why: str = "", retry_after: int | None = None
) -> RequestRefused:
    """The caller gets ``code``; the log line and the counters say which check fired."""
    reason = why or code
    log.warning("refused %s (%s)", code, reason)
    # A refusal is already decided; losing its counter must not fail it.
    with contextlib.suppress(StoreUnavailable):
        rt.store.count_refusal(reason)
    return RequestRefused(code, message, retry_after=retry_after)


def _refused(rt: Runtime, refusal: Refusal) -> RequestRefused:
    if refusal.why.startswith("global_"):
        log.error("SMS budget reached (%s): refusing requests", refusal.why)
    messages = {
        RefusalCode.PHONE_NOT_ALLOWED: "SMS to this number is not enabled",
        RefusalCode.CAPTCHA_REQUIRED: "complete the captcha and try again",
    }
    wait = _seconds(refusal.retry_after_ms) if refusal.retry_after_ms else None
    return _refuse(rt, refusal.code, messages.get(refusal.code, _TOO_MANY), refusal.why, wait)


def _check_captcha(rt: Runtime, token: str | None, client_ip: str | None) -> bool:
    """True when a token was given and the provider accepted it."""
    mode = rt.settings.captcha.mode
    if mode == "off" or (mode == "step_up" and not token):
        return False
    if not token:
        raise _refuse(rt, RefusalCode.CAPTCHA_REQUIRED, "complete the captcha and try again")
    result = rt.captcha.verify(token, client_ip)
    if not result.ok:
        raise _refuse(
            rt,
            RefusalCode.CAPTCHA_FAILED,
            "the captcha was not accepted",
            f"captcha_{result.reason}",
        )
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
    site: ApiKey | None = None,
) -> SmsGate:
    """The checks one SMS passes before the store's atomic step: country, deny list, captcha."""
    if phone.region not in rt.settings.abuse.allowed_countries:
        raise _refuse(rt, RefusalCode.COUNTRY_NOT_ALLOWED, "SMS to this country is not enabled")
    if any(phone.e164.startswith(p) for p in rt.settings.abuse.deny_prefixes):
        raise _refuse(
            rt, RefusalCode.PHONE_NOT_ALLOWED, "SMS to this number is not enabled", "deny_list"
        )
    passed = _check_captcha(rt, captcha_token, client_ip)
    return sms_gate(
        rt.settings, phone=phone.e164, region=phone.region, ip=ip, captcha_passed=passed,
        site=site,
    )  # fmt: skip


def _publish(rt: Runtime, verification_id: str, undo: Callable[[], None]) -> None:
    """Queue the send; when the broker does not take it, give back what the gate counted."""
    try:
        rt.queue.enqueue_send(verification_id)
    except QueueUnavailable:
        log.error("broker unavailable, send of %s withdrawn", verification_id)
        undo()
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


@_translated
def request_code(
    phone: str,
    *,
    client_ip: str | None = None,
    captcha_token: str | None = None,
    idempotency_key: str | None = None,
    site: ApiKey | None = None,
    runtime: Runtime | None = None,
) -> CodeRequest:
    """Check the number, the captcha and every limit, record the request and queue the send.

    An ``idempotency_key`` is scoped by phone: the same key returns this phone's earlier
    verification (within the code TTL), never another phone's. Raises ``RequestRefused`` for
    an expected refusal, ``ServiceUnavailable`` when Redis or the broker is down (nothing is
    spent then), ``SettingsError`` for a bad deployment, ``TypeError`` for a non-string
    ``client_ip``. ``site`` (the HTTP API's caller) owns the verification and has limits of its
    own.
    """
    rt = _rt(runtime)
    s = rt.settings
    ip = _client_ip(client_ip)
    try:
        parsed = parse_phone(phone, s.abuse.default_region)
    except InvalidPhone as exc:
        raise _refuse(rt, RefusalCode.INVALID_PHONE, str(exc)) from None
    gate = _gate(rt, parsed, ip=ip, client_ip=client_ip, captcha_token=captcha_token, site=site)
    idem = (
        pseudonym(rt.pseudonym_secret, "idem", f"{parsed.e164}\n{idempotency_key}")
        if idempotency_key
        else None
    )
    verification_id = new_verification_id()
    out = rt.store.create(
        gate,
        verification_id=verification_id,
        idempotency_digest=idem,
        idempotency_ttl_ms=s.codes.ttl_seconds * 1000,
        record_ttl_ms=s.codes.record_ttl_seconds * 1000,
        send_window_ms=s.codes.send_deadline_seconds * 1000,
        max_attempts=s.codes.max_attempts,
        site=site.name if site else None,
    )
    if isinstance(out, Refusal):
        raise _refused(rt, out)
    if out.existing:
        # A replayed key (rare): one more read, so the answer carries the record's real state.
        record, _ = rt.store.load(out.id)
        return CodeRequest(id=out.id, state=RecordState(record["state"]), created=False)
    if out.pumping_flagged:
        _log_pumping(rt, gate)
    _publish(
        rt,
        verification_id,
        lambda: rt.store.abandon(
            gate, verification_id=verification_id, sends=1, idempotency_digest=idem
        ),
    )
    log.info("queued %s region=%s", verification_id, parsed.region)
    return CodeRequest(id=verification_id, state=RecordState.QUEUED, created=True)


@_translated
def resend(
    verification_id: str,
    *,
    client_ip: str | None = None,
    captcha_token: str | None = None,
    site: ApiKey | None = None,
    runtime: Runtime | None = None,
) -> CodeRequest:
    """Send a new code for the same verification; the previous code stops working at once.

    The SMS passes the same gate as a first request: every limit, the deny list, the country
    policy, the captcha (step-up included) and the pumping guard.
    """
    rt = _rt(runtime)
    s = rt.settings
    ip = _client_ip(client_ip)
    if not is_verification_id(verification_id):
        raise VerificationNotFound(_NOT_FOUND)
    subject = rt.store.sms_subject(verification_id)
    if subject is None:
        raise VerificationNotFound(_NOT_FOUND)
    phone = Phone(e164=subject.phone, region=subject.region)
    gate = _gate(rt, phone, ip=ip, client_ip=client_ip, captcha_token=captcha_token, site=site)
    out = rt.store.resend(
        gate,
        verification_id=verification_id,
        sends=subject.sends,
        send_window_ms=s.codes.send_deadline_seconds * 1000,
        max_attempts=s.codes.max_attempts,
        max_sends=s.codes.max_sends,
        record_ttl_ms=s.codes.record_ttl_seconds * 1000,
    )
    if isinstance(out, Refusal):
        raise _refused(rt, out)
    outcome, state = out
    if outcome is ResendOutcome.MISSING:
        raise VerificationNotFound(_NOT_FOUND)
    if outcome in (ResendOutcome.IN_FLIGHT, ResendOutcome.CHANGED):
        return CodeRequest(id=verification_id, state=RecordState.QUEUED, created=False)
    if outcome is ResendOutcome.NOT_ALLOWED:
        raise RequestRefused(RefusalCode.NOT_ALLOWED, f"a {state} verification cannot be resent")
    sends = subject.sends + 1
    _publish(
        rt,
        verification_id,
        lambda: rt.store.abandon(gate, verification_id=verification_id, sends=sends),
    )
    log.info("resend queued %s", verification_id)
    return CodeRequest(id=verification_id, state=RecordState.QUEUED, created=True)


@_translated
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
    if not isinstance(code, str):
        raise TypeError(f"code must be a str (as typed), not {type(code).__name__}")
    rt = _rt(runtime)
    s = rt.settings
    try:
        ip = _client_ip(client_ip)
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
        wait = _seconds(verdict.retry_after_ms)
        return VerifyResult(ok=False, reason=reason, attempts_left=left, retry_after=wait)
    if reason is not VerifyReason.OK:
        log.info("verify %s: %s (attempts left %d)", verification_id, reason, left)
        return VerifyResult(ok=False, reason=reason, attempts_left=left)
    return VerifyResult(ok=True, reason=reason, attempts_left=left, phone=verdict.phone)


def _int(value: str | None) -> int | None:
    return int(float(value)) if value else None


@_translated
def get_status(verification_id: str, *, runtime: Runtime | None = None) -> VerificationStatus:
    rt = _rt(runtime)
    if not is_verification_id(verification_id):
        raise VerificationNotFound(_NOT_FOUND)
    record, history = rt.store.load(verification_id)
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


@_translated
def cancel(verification_id: str, *, runtime: Runtime | None = None) -> bool:
    """Stop a verification: its code no longer verifies. False when it was already verified."""
    rt = _rt(runtime)
    if not is_verification_id(verification_id):
        raise VerificationNotFound(_NOT_FOUND)
    outcome = rt.store.cancel(verification_id).outcome
    if outcome is CancelOutcome.MISSING:
        raise VerificationNotFound(_NOT_FOUND)
    return outcome is CancelOutcome.CANCELED
