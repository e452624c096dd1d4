"""``request_code`` and ``resend``: the gate path every SMS takes, then the send queued."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from worker.api.gate import sms_gate
from worker.api.producer.boundary import runtime_or_default, translated
from worker.api.producer.refusals import refuse, refused
from worker.api.producer.validation import (
    NOT_FOUND,
    client_ip_subject,
    require_verification_id,
)
from worker.core.api_keys import ApiKey
from worker.core.codes import new_verification_id, pseudonym
from worker.core.gate import SmsGate
from worker.core.outcomes import RecordState, RefusalCode
from worker.core.phone import InvalidPhone, Phone, parse_phone
from worker.errors import RequestRefused, VerificationNotFound
from worker.queue.base import QueueUnavailable
from worker.runtime import Runtime
from worker.store import Refusal, ResendOutcome

__all__ = ["CodeRequest", "request_code", "resend"]

log = logging.getLogger("targetsms.producer")


@dataclass(frozen=True, slots=True)
class CodeRequest:
    id: str
    state: RecordState  # queued for a new request; an earlier request's own state otherwise
    created: bool  # False when an idempotency key returned an earlier request


def _check_captcha(rt: Runtime, token: str | None, client_ip: str | None) -> bool:
    """True when a token was given and the provider accepted it."""
    mode = rt.settings.captcha.mode
    if mode == "off" or (mode == "step_up" and not token):
        return False
    if not token:
        raise refuse(rt, RefusalCode.CAPTCHA_REQUIRED, "complete the captcha and try again")
    result = rt.captcha.verify(token, client_ip)
    if not result.ok:
        raise refuse(
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
        raise refuse(rt, RefusalCode.COUNTRY_NOT_ALLOWED, "SMS to this country is not enabled")
    if any(phone.e164.startswith(p) for p in rt.settings.abuse.deny_prefixes):
        raise refuse(
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


@translated
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
    rt = runtime_or_default(runtime)
    s = rt.settings
    ip = client_ip_subject(client_ip)
    try:
        parsed = parse_phone(phone, s.abuse.default_region)
    except InvalidPhone as exc:
        raise refuse(rt, RefusalCode.INVALID_PHONE, str(exc)) from None
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
        raise refused(rt, out)
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


@translated
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
    rt = runtime_or_default(runtime)
    s = rt.settings
    ip = client_ip_subject(client_ip)
    require_verification_id(verification_id)
    subject = rt.store.sms_subject(verification_id)
    if subject is None:
        raise VerificationNotFound(NOT_FOUND)
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
        raise refused(rt, out)
    outcome, state = out
    if outcome is ResendOutcome.MISSING:
        raise VerificationNotFound(NOT_FOUND)
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
