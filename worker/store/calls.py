"""The producer's Lua steps as plain values: which script, its KEYS, its ARGV, and how to read
its answer.

The thread Store and the asyncio Store (``worker.store.aio``) send exactly these, so the key
layout and each script's contract are written once whichever client runs them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from worker.core.gate import SmsGate
from worker.core.outcomes import RefusalCode, VerifyReason
from worker.store.keys import Keys
from worker.store.results import (
    Canceled,
    CancelOutcome,
    Created,
    Refusal,
    ResendOutcome,
    SmsSubject,
    Verdict,
)

__all__ = [
    "STATS_TTL_MS",
    "SUBJECT_FIELDS",
    "VERIFY_FIELDS",
    "Call",
    "abandon_call",
    "cancel_call",
    "canceled",
    "create_call",
    "created",
    "gate_arg",
    "gate_keys",
    "refusal",
    "resend_call",
    "resent",
    "sms_subject",
    "verdict",
    "verify_call",
]

STATS_TTL_MS = (24 * 3600 + 3600) * 1000
#: What ``sms_subject`` reads of a record, and what ``verify`` reads before its step.
SUBJECT_FIELDS = ("phone", "region", "sends")
VERIFY_FIELDS = ("phone_key", "prefix_key", "requester")


@dataclass(frozen=True, slots=True)
class Call:
    """One script run: ``name`` (a ``lua/<name>.lua``), its KEYS and its one JSON argument."""

    name: str
    keys: list[str]
    arg: dict[str, Any]


def gate_keys(keys: Keys, gate: SmsGate, stats_key: str) -> list[str]:
    """Deny set, prefix sends, prefix verifications, pumping flag, stats, totals, then one log
    per limit in the order of ``gate.limits``."""
    return [
        keys.deny,
        keys.pumping(gate.prefix_key, "s"),
        keys.pumping(gate.prefix_key, "v"),
        keys.pumping(gate.prefix_key, "flag"),
        stats_key,
        keys.totals,
        *(keys.limit_log(limit.name, limit.subject) for limit in gate.limits),
    ]


def gate_arg(gate: SmsGate, member: str) -> dict[str, Any]:
    """``member`` names this SMS in every log it is counted in (so ``abandon`` can take it out)."""
    return {
        "phone": gate.phone,
        "region": gate.region,
        "member": member,
        "limits": [
            {"name": li.name, "window_ms": li.window_ms, "limit": li.limit} for li in gate.limits
        ],
        "captcha_passed": gate.captcha_passed,
        "step_up": (
            {
                "ip_per_hour": gate.step_up.ip_per_hour,
                "prefix_per_hour": gate.step_up.prefix_per_hour,
            }
            if gate.step_up
            else False
        ),
        "pumping": {
            "refuse": gate.pumping.refuse,
            "window_ms": gate.pumping.window_ms,
            "min_sends": gate.pumping.min_sends,
            "min_conversion": gate.pumping.min_conversion,
            "cooloff_ms": gate.pumping.cooloff_ms,
        },
        "stats_ttl_ms": STATS_TTL_MS,
    }


def refusal(out: Mapping[str, Any]) -> Refusal:
    wait = out.get("retry_after_ms")
    return Refusal(RefusalCode(out["code"]), str(out["why"]), int(wait) if wait else None)


def _on_verification(
    name: str, k: Keys, verification_id: str, keys: Sequence[str], arg: Mapping[str, Any]
) -> Call:
    """KEYS start with the record and its history; ARGV names it and the events channel."""
    return Call(
        name,
        [k.record(verification_id), k.history(verification_id), *keys],
        {"id": verification_id, "channel": k.events, **arg},
    )


def create_call(
    k: Keys,
    gate: SmsGate,
    stats_key: str,
    *,
    verification_id: str,
    idempotency_digest: str | None,
    idempotency_ttl_ms: int,
    record_ttl_ms: int,
    send_window_ms: int,
    max_attempts: int,
) -> Call:
    return _on_verification(
        "create",
        k,
        verification_id,
        [
            k.idempotency(idempotency_digest) if idempotency_digest else k.unused,
            *gate_keys(k, gate, stats_key),
        ],
        {
            "record_ttl_ms": record_ttl_ms,
            "send_window_ms": send_window_ms,
            "max_attempts": max_attempts,
            "idempotency_ttl_ms": idempotency_ttl_ms if idempotency_digest else 0,
            "fields": {
                "phone_key": gate.phone_key,
                "prefix_key": gate.prefix_key,
                "requester": gate.ip_key or "",
            },
            "gate": gate_arg(gate, f"{verification_id}:1"),
        },
    )


def created(out: Mapping[str, Any], verification_id: str) -> Created | Refusal:
    if out["outcome"] == "refused":
        return refusal(out)
    if out["outcome"] == "existing":
        return Created(str(out["id"]), existing=True)
    return Created(verification_id, existing=False, pumping_flagged=bool(out["flagged"]))


def abandon_call(
    k: Keys,
    gate: SmsGate,
    stats_key: str,
    *,
    verification_id: str,
    sends: int,
    idempotency_digest: str | None = None,
) -> Call:
    return _on_verification(
        "abandon",
        k,
        verification_id,
        [
            k.idempotency(idempotency_digest) if idempotency_digest else k.unused,
            *gate_keys(k, gate, stats_key),
        ],
        {"resend": sends > 1, "gate": gate_arg(gate, f"{verification_id}:{sends}")},
    )


def sms_subject(values: Sequence[Any]) -> SmsSubject | None:
    """``values``: the record's ``SUBJECT_FIELDS``."""
    phone, region, sends = values
    if not phone:
        return None
    return SmsSubject(str(phone), str(region or "ZZ"), int(sends or 0))


def resend_call(
    k: Keys,
    gate: SmsGate,
    stats_key: str,
    *,
    verification_id: str,
    sends: int,
    send_window_ms: int,
    max_attempts: int,
    max_sends: int,
    record_ttl_ms: int,
) -> Call:
    return _on_verification(
        "resend",
        k,
        verification_id,
        [k.poll, *gate_keys(k, gate, stats_key)],
        {
            "send_window_ms": send_window_ms,
            "max_attempts": max_attempts,
            "max_sends": max_sends,
            "record_ttl_ms": record_ttl_ms,
            "sends": sends,
            "gate": gate_arg(gate, f"{verification_id}:{sends + 1}"),
        },
    )


def resent(out: Mapping[str, Any]) -> tuple[ResendOutcome, str] | Refusal:
    if out["outcome"] == "refused":
        return refusal(out)
    return ResendOutcome(out["outcome"]), str(out.get("state", ""))


def verify_call(
    k: Keys,
    verification_id: str,
    candidates: Sequence[str],
    subject: Sequence[Any],
    stats_key: str,
    *,
    verifier_key: str | None,
    window_ms: int,
    phone_limit: int,
    ip_limit: int,
    pumping_window_ms: int,
) -> Call:
    """``subject``: the record's ``VERIFY_FIELDS``, read first to name the logs the step
    touches (they never change after the record is written, so nothing slips between)."""
    phone_key, prefix_key, requester = subject
    return _on_verification(
        "verify",
        k,
        verification_id,
        [
            k.guess_log(str(phone_key or ""), str(requester or "")),
            k.verifier_log(verifier_key) if verifier_key else k.unused,
            k.pumping(str(prefix_key or ""), "v"),
            stats_key,
            k.totals,
        ],
        {
            "candidates": list(candidates),
            "window_ms": window_ms,
            "phone_limit": phone_limit if phone_key else 0,
            "ip_limit": ip_limit,
            "has_ip": verifier_key is not None,
            "pumping_window_ms": pumping_window_ms,
            "stats_ttl_ms": STATS_TTL_MS,
        },
    )


def verdict(out: Mapping[str, Any]) -> Verdict:
    reason = VerifyReason(out["reason"])
    phone = str(out.get("phone") or "") if reason is VerifyReason.OK else ""
    return Verdict(reason, int(out["left"]), int(out["retry_after_ms"]), phone or None)


def cancel_call(k: Keys, verification_id: str) -> Call:
    return _on_verification("cancel", k, verification_id, [k.poll], {})


def canceled(out: Mapping[str, Any]) -> Canceled:
    return Canceled(CancelOutcome(out["outcome"]), str(out.get("state", "")))
