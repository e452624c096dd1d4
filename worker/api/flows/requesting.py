"""``request_code`` and ``resend``: the gate path every SMS takes, then the send queued."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from worker.api.flows.refusals import CAPTCHA_REQUIRED, NOT_ENABLED, refuse, refused
from worker.api.flows.validation import (
    NOT_FOUND,
    client_ip_subject,
    locale_fields,
    require_verification_id,
)
from worker.api.gate import sms_gate
from worker.api.io import Flow, blocking, on_store
from worker.api.results import CodeRequest
from worker.core.api_keys import ApiKey
from worker.core.codes import new_verification_id, pseudonym
from worker.core.gate import SmsGate
from worker.core.outcomes import RecordState, RefusalCode
from worker.core.phone import InvalidPhone, Phone, parse_phone
from worker.errors import RequestRefused, VerificationNotFound
from worker.queue.base import QueueUnavailable
from worker.runtime import Runtime
from worker.store import Refusal, ResendOutcome, Store

__all__ = ["Asker", "request_code", "resend"]

log = logging.getLogger("targetsms.producer")


@dataclass(frozen=True, slots=True)
class Asker:
    """Who asks for an SMS, as the gate sees them. The API's wrappers (thread and asyncio) build
    one and it travels whole through the flow to ``_gate``: a keyword the gate or the create
    step needs (the HTTP API's ``site``) is one more field here and a parameter on each wrapper,
    and no flow signature changes."""

    client_ip: str | None = None
    captcha_token: str | None = None
    locale: str | None = None  # picks OTP_TEXT_<XX> at send time
    site: ApiKey | None = None  # the HTTP API's caller: owns the verification, has own limits


def _check_captcha(rt: Runtime, asker: Asker) -> Flow[bool]:
    """True when a token was given and the provider accepted it."""
    mode, token = rt.settings.captcha.mode, asker.captcha_token
    if mode == "off" or (mode == "step_up" and not token):
        return False
    if not token:
        raise (yield from refuse(RefusalCode.CAPTCHA_REQUIRED, CAPTCHA_REQUIRED))
    result = yield from blocking(rt.captcha.verify, token, asker.client_ip)
    if not result.ok:
        why = f"captcha_{result.reason}"
        raise (yield from refuse(RefusalCode.CAPTCHA_FAILED, "the captcha was not accepted", why))
    if result.reason != "ok":
        log.warning("captcha passed by failing open (%s)", result.reason)
    return True


def _gate(rt: Runtime, phone: Phone, asker: Asker, ip: str | None) -> Flow[SmsGate]:
    """The checks one SMS passes before the store's atomic step: country, deny list, captcha."""
    if phone.region not in rt.settings.abuse.allowed_countries:
        raise (
            yield from refuse(RefusalCode.COUNTRY_NOT_ALLOWED, "SMS to this country is not enabled")
        )
    if any(phone.e164.startswith(p) for p in rt.settings.abuse.deny_prefixes):
        raise (yield from refuse(RefusalCode.PHONE_NOT_ALLOWED, NOT_ENABLED, "deny_list"))
    passed = yield from _check_captcha(rt, asker)
    return sms_gate(
        rt.settings, phone=phone.e164, region=phone.region, ip=ip, captcha_passed=passed,
        site=asker.site,
    )  # fmt: skip


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
    rt: Runtime, phone: str, asker: Asker, *, idempotency_key: str | None
) -> Flow[CodeRequest]:
    s = rt.settings
    ip = client_ip_subject(asker.client_ip)
    try:
        parsed = parse_phone(phone, s.abuse.default_region)
    except InvalidPhone as exc:
        raise (yield from refuse(RefusalCode.INVALID_PHONE, str(exc))) from None
    gate = yield from _gate(rt, parsed, asker, ip)
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
        pending_grace_ms=s.pending_send_grace_ms,
        extra_fields=locale_fields(asker.locale),
        site=asker.site.name if asker.site else None,
    )
    if isinstance(out, Refusal):
        raise (yield from refused(out))
    if out.existing:
        # A replayed key (rare): one more read, so the answer carries the record's real state.
        record, _ = yield from on_store(Store.load, out.id)
        return CodeRequest(id=out.id, state=RecordState(record["state"]), created=False)
    if out.pumping_flagged:
        _log_pumping(rt, gate)
    yield from _publish(rt, verification_id, gate, 1, idem)
    log.info("queued %s region=%s", verification_id, parsed.region)
    return CodeRequest(id=verification_id, state=RecordState.QUEUED, created=True)


def resend(rt: Runtime, verification_id: str, asker: Asker) -> Flow[CodeRequest]:
    s = rt.settings
    ip = client_ip_subject(asker.client_ip)
    require_verification_id(verification_id)
    subject = yield from on_store(Store.sms_subject, verification_id)
    if subject is None:
        raise VerificationNotFound(NOT_FOUND)
    phone = Phone(e164=subject.phone, region=subject.region)
    gate = yield from _gate(rt, phone, asker, ip)
    out = yield from on_store(
        Store.resend,
        gate,
        verification_id=verification_id,
        sends=subject.sends,
        send_window_ms=s.codes.send_deadline_seconds * 1000,
        max_attempts=s.codes.max_attempts,
        max_sends=s.codes.max_sends,
        record_ttl_ms=s.codes.record_ttl_seconds * 1000,
        pending_grace_ms=s.pending_send_grace_ms,
    )
    if isinstance(out, Refusal):
        raise (yield from refused(out))
    outcome, state = out
    if outcome is ResendOutcome.MISSING:
        raise VerificationNotFound(NOT_FOUND)
    if outcome in (ResendOutcome.IN_FLIGHT, ResendOutcome.CHANGED):
        return CodeRequest(id=verification_id, state=RecordState.QUEUED, created=False)
    if outcome is ResendOutcome.NOT_ALLOWED:
        raise RequestRefused(RefusalCode.NOT_ALLOWED, f"a {state} verification cannot be resent")
    yield from _publish(rt, verification_id, gate, subject.sends + 1)
    log.info("resend queued %s", verification_id)
    return CodeRequest(id=verification_id, state=RecordState.QUEUED, created=True)
