"""The producer API that web apps call: request, verify, inspect, resend, cancel.

Each call is a few Redis round trips and never talks to the gateway, so a web request stays
fast whatever TargetSMS does. Expected refusals are exceptions with a stable ``code``; the
caller is told *that* it was limited and for how long, never *which* limit fired.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from kombu.exceptions import OperationalError

from .celery_app import enqueue_send
from .codes import code_digest, is_verification_id, new_verification_id, normalize_code, pseudonym
from .limits import HOUR_MS, ip_subject, send_buckets
from .phone import InvalidPhone, parse_phone
from .runtime import Runtime, get_runtime
from .stats import STATS_TTL_MS, bucket_key, count_refusal
from .store import UNAVAILABLE

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

_PUBLISH_FAILED: tuple[type[Exception], ...] = (OperationalError, *UNAVAILABLE)

STATES = ("queued", "sending", "sent", "failed", "verified", "expired", "locked", "canceled")


class RequestRefused(Exception):
    """An expected refusal: ``code`` is one of invalid_phone, invalid_ip, country_not_allowed,
    phone_not_allowed, rate_limited, captcha_required, captcha_failed, not_allowed."""

    def __init__(self, code: str, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.retry_after is not None:
            out["retry_after"] = self.retry_after
        return out


class ServiceUnavailable(Exception):
    """Redis or the broker is unreachable; nothing was queued and no limit was spent."""

    code = "unavailable"


class VerificationNotFound(LookupError):
    """No such verification (never existed, or its record expired)."""

    code = "not_found"


@dataclass(frozen=True, slots=True)
class CodeRequest:
    id: str
    state: str
    created: bool  # False when an idempotency key returned an earlier request


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    reason: str  # ok, wrong, locked, expired, already_used, not_sent_yet, rate_limited, ...
    attempts_left: int
    retry_after: int | None = None  # rate_limited: seconds until guesses are allowed again


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


def _rt(runtime: Runtime | None) -> Runtime:
    return runtime if runtime is not None else get_runtime()


def _retry_after(ms: Any) -> int:
    return max(1, -(-int(ms) // 1000))


def _publish(rt: Runtime, verification_id: str, undo: Any) -> None:
    try:
        enqueue_send(verification_id)
    except _PUBLISH_FAILED as exc:
        log.error(
            "broker unavailable, request %s withdrawn (%s)", verification_id, type(exc).__name__
        )
        undo()
        raise ServiceUnavailable("the task queue is unavailable; try again shortly") from None


def request_code(
    phone: str,
    *,
    client_ip: str | None = None,
    captcha_token: str | None = None,
    idempotency_key: str | None = None,
    runtime: Runtime | None = None,
) -> CodeRequest:
    """Check the number, the captcha and every limit, record the request and queue the send.

    Raises ``RequestRefused`` for an expected refusal, ``ServiceUnavailable`` when Redis or
    the broker is down (nothing is spent then), ``SettingsError`` for a bad deployment.
    """
    rt = _rt(runtime)
    s = rt.settings
    try:
        parsed = parse_phone(phone)
    except InvalidPhone as exc:
        raise _refuse("invalid_phone", str(exc), rt) from None
    if parsed.region not in s.abuse.allowed_countries:
        raise _refuse("country_not_allowed", "SMS to this country is not enabled", rt)
    if any(parsed.e164.startswith(p) for p in s.abuse.deny_prefixes):
        raise _refuse("phone_not_allowed", "SMS to this number is not enabled", rt, "deny_list")
    ip = _ip_subject(client_ip)
    captcha_passed = _check_captcha(rt, captcha_token, client_ip)

    phone_digest = pseudonym(rt.secret, "phone", parsed.e164)
    prefix_digest = pseudonym(rt.secret, "prefix", parsed.prefix)
    buckets = send_buckets(
        s, rt.store.keys, rt.secret, phone_digest=phone_digest, prefix_digest=prefix_digest, ip=ip
    )
    names = [b.name for b in buckets]
    idem = pseudonym(rt.secret, "idem", idempotency_key) if idempotency_key else None
    verification_id = new_verification_id()
    config = {
        "id": verification_id,
        "phone": parsed.e164,
        "record_ttl_ms": s.codes.record_ttl_seconds * 1000,
        "send_window_ms": s.codes.send_deadline_seconds * 1000,
        "max_attempts": s.codes.max_attempts,
        "idempotency": idem is not None,
        "idempotency_ttl_ms": s.codes.ttl_seconds * 1000,
        "channel": rt.store.keys.events,
        "record_prefix": rt.store.keys.record_prefix,
        "captcha_passed": captcha_passed,
        "step_up": s.captcha.mode == "step_up",
        "step_up_ip": s.abuse.step_up_ip_per_hour,
        "step_up_prefix": s.abuse.step_up_prefix_per_hour,
        "ip_bucket": names.index("ip_hour") + 1 if "ip_hour" in names else None,
        "prefix_bucket": names.index("prefix_hour") + 1 if "prefix_hour" in names else None,
        # Without a captcha to ask for, a suspected pumping prefix can only be refused.
        "pumping_refuse": s.abuse.pumping_action == "refuse" or s.captcha.mode == "off",
        "pumping_window_ms": s.abuse.pumping_window_seconds * 1000,
        "pumping_min_sends": s.abuse.pumping_min_sends,
        "pumping_min_conversion": s.abuse.pumping_min_conversion,
        "pumping_cooloff_ms": s.abuse.pumping_cooloff_seconds * 1000,
        "stats_ttl_ms": STATS_TTL_MS,
        "extra": {
            "region": parsed.region,
            "phone_key": phone_digest,
            "prefix_key": prefix_digest,
        },
    }
    try:
        out = rt.store.create(
            config,
            verification_id=verification_id,
            idempotency_key=idem,
            prefix_digest=prefix_digest,
            stats_key=bucket_key(rt.store),
            buckets=buckets,
        )
    except UNAVAILABLE as exc:
        raise _unavailable(exc) from None
    outcome = str(out[0])
    if outcome == "existing":
        return CodeRequest(id=str(out[1]), state="existing", created=False)
    if outcome == "blocked":
        raise _refuse("phone_not_allowed", "SMS to this number is not enabled", rt, "deny_list")
    if outcome == "limited":
        if str(out[2]).startswith("global_"):
            log.error("SMS budget reached (%s): refusing requests", out[2])
        raise _refuse(
            "rate_limited",
            "too many requests; try again later",
            rt,
            str(out[2]),
            retry_after=_retry_after(out[1]),
        )
    if outcome == "captcha_required":
        raise _refuse("captcha_required", "complete the captcha and try again", rt, str(out[1]))
    if outcome == "refused":
        raise _refuse("rate_limited", "too many requests; try again later", rt, str(out[1]))
    if int(out[2]):
        log.warning(
            "pumping suspected: prefix %s… converts below %.0f%% over %d s; %s for %d s",
            parsed.prefix[:5],
            s.abuse.pumping_min_conversion * 100,
            s.abuse.pumping_window_seconds,
            "refusing" if config["pumping_refuse"] else "captcha required",
            s.abuse.pumping_cooloff_seconds,
        )
    _publish(rt, verification_id, lambda: rt.store.abandon(verification_id, idem, buckets))
    log.info("queued %s region=%s", verification_id, parsed.region)
    return CodeRequest(id=verification_id, state="queued", created=True)


def _refuse(
    code: str,
    message: str,
    rt: Runtime,
    why: str | None = None,
    *,
    retry_after: int | None = None,
) -> RequestRefused:
    """The caller gets ``code``; the log line and the counters say which check fired."""
    reason = why or code
    log.warning("refused %s (%s)", code, reason)
    count_refusal(rt.store, reason)
    return RequestRefused(code, message, retry_after=retry_after)


def _check_captcha(rt: Runtime, token: str | None, client_ip: str | None) -> bool:
    """True when a token was given and the provider accepted it."""
    mode = rt.settings.captcha.mode
    if mode == "off" or (mode == "step_up" and not token):
        return False
    if not token:
        raise _refuse("captcha_required", "complete the captcha and try again", rt)
    result = rt.captcha.verify(token, client_ip)
    if not result.ok:
        raise _refuse(
            "captcha_failed", "the captcha was not accepted", rt, f"captcha_{result.reason}"
        )
    if result.reason != "ok":
        log.warning("captcha passed by failing open (%s)", result.reason)
    return True


def _ip_subject(client_ip: str | None) -> str | None:
    if client_ip is None or client_ip == "":
        return None
    try:
        return ip_subject(client_ip)
    except ValueError:
        raise RequestRefused("invalid_ip", "client_ip is not an IP address") from None


def _unavailable(exc: BaseException) -> ServiceUnavailable:
    log.error("redis unavailable (%s)", type(exc).__name__)
    return ServiceUnavailable("storage is unavailable; try again shortly")


def verify_code(
    verification_id: str,
    code: str,
    *,
    client_ip: str | None = None,
    runtime: Runtime | None = None,
) -> VerifyResult:
    """One atomic Redis step: the code is right (and now used up), or why not.

    ``client_ip`` makes wrong codes count per IP too (``OTP_VERIFY_MAX_PER_IP_PER_HOUR``).
    """
    rt = _rt(runtime)
    s = rt.settings
    if not is_verification_id(verification_id):
        return VerifyResult(ok=False, reason="unknown", attempts_left=0)
    typed = normalize_code(code) if isinstance(code, str) else ""
    candidate = code_digest(rt.secret, verification_id, typed)
    ip = _ip_subject(client_ip)
    ip_log = rt.store.keys.bucket("verify_ip", pseudonym(rt.secret, "ip", ip)) if ip else None
    config = {
        "key_prefix": rt.store.keys.prefix,
        "window_ms": HOUR_MS,
        "phone_limit": s.limits.verify_max_per_phone_per_hour,
        "ip_limit": s.limits.verify_max_per_ip_per_hour,
        "has_ip": ip_log is not None,
        "pumping_window_ms": s.abuse.pumping_window_seconds * 1000,
        "stats_ttl_ms": STATS_TTL_MS,
    }
    try:
        reason, left, retry_after_ms = rt.store.verify(
            verification_id,
            candidate,
            ip_log=ip_log,
            stats_key=bucket_key(rt.store),
            config=config,
        )
    except UNAVAILABLE as exc:
        raise _unavailable(exc) from None
    if reason == "rate_limited":
        log.warning("verify %s refused: too many wrong codes for this phone or IP", verification_id)
        return VerifyResult(
            ok=False, reason=reason, attempts_left=left, retry_after=_retry_after(retry_after_ms)
        )
    if reason != "ok":
        log.info("verify %s: %s (attempts left %d)", verification_id, reason, left)
    return VerifyResult(ok=reason == "ok", reason=reason, attempts_left=left)


def _int(value: str | None) -> int | None:
    return int(float(value)) if value else None


def get_status(verification_id: str, *, runtime: Runtime | None = None) -> VerificationStatus:
    rt = _rt(runtime)
    if not is_verification_id(verification_id):
        raise VerificationNotFound("no such verification")
    try:
        record, history = rt.store.load(verification_id)
    except UNAVAILABLE as exc:
        raise _unavailable(exc) from None
    if not record:
        raise VerificationNotFound("no such verification")
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
    )


def resend(verification_id: str, *, runtime: Runtime | None = None) -> CodeRequest:
    """Send a new code for the same verification; the previous code stops working at once."""
    rt = _rt(runtime)
    s = rt.settings
    if not is_verification_id(verification_id):
        raise VerificationNotFound("no such verification")
    try:
        phone_key, prefix_key = rt.store.redis.hmget(
            rt.store.keys.record(verification_id), ["phone_key", "prefix_key"]
        )
        buckets = send_buckets(
            s,
            rt.store.keys,
            rt.secret,
            phone_digest=str(phone_key or ""),
            prefix_digest=str(prefix_key or ""),
        )
        out = rt.store.resend(
            verification_id,
            send_window_ms=s.codes.send_deadline_seconds * 1000,
            max_attempts=s.codes.max_attempts,
            max_sends=s.codes.max_sends,
            record_ttl_ms=s.codes.record_ttl_seconds * 1000,
            buckets=buckets,
        )
    except UNAVAILABLE as exc:
        raise _unavailable(exc) from None
    if out[0] == "unknown":
        raise VerificationNotFound("no such verification")
    if out[0] == "in_flight":
        return CodeRequest(id=verification_id, state="queued", created=False)
    if out[0] == "not_allowed":
        raise RequestRefused("not_allowed", f"a {out[1]} verification cannot be resent")
    if out[0] == "limited":
        raise _refuse(
            "rate_limited",
            "too many requests; try again later",
            rt,
            str(out[2]),
            retry_after=_retry_after(out[1]),
        )
    # The record is queued again; if the broker is down, a resend after the send deadline works.
    try:
        enqueue_send(verification_id)
    except _PUBLISH_FAILED:
        raise ServiceUnavailable("the task queue is unavailable; try again shortly") from None
    log.info("resend queued %s", verification_id)
    return CodeRequest(id=verification_id, state="queued", created=True)


def cancel(verification_id: str, *, runtime: Runtime | None = None) -> bool:
    """Stop a verification: its code no longer verifies. False when it was already verified."""
    rt = _rt(runtime)
    if not is_verification_id(verification_id):
        raise VerificationNotFound("no such verification")
    try:
        out = rt.store.cancel(verification_id)
    except UNAVAILABLE as exc:
        raise _unavailable(exc) from None
    if out[0] == "unknown":
        raise VerificationNotFound("no such verification")
    return bool(out[0] == "ok")
