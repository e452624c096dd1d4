"""The producer's Lua steps as plain values: which script, its KEYS, its ARGV, and how to read
its answer.

The thread Store (``verifications``) and the asyncio Store (``aio``) send exactly these, so the
key layout and each script's contract are written once whichever client runs them; the two
differ only in how they wait for Redis. The SMS gate's share of a step comes from ``gate``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NotRequired, Protocol, TypedDict, Unpack

from worker.core.gate import SmsGate
from worker.core.outcomes import VerifyReason
from worker.store.gate import gate_arg, gate_keys, refusal
from worker.store.keys import STATS_TTL_MS, Keys
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
    "SITE_FIELD",
    "SUBJECT_FIELDS",
    "VERIFY_FIELDS",
    "AbandonArgs",
    "Call",
    "CreateArgs",
    "Pipe",
    "ResendArgs",
    "VerifyArgs",
    "abandon_call",
    "answer",
    "cancel_call",
    "canceled",
    "create_call",
    "created",
    "hooks_arg",
    "loaded",
    "on_verification",
    "queue_load",
    "queue_refusal_count",
    "resend_call",
    "resent",
    "sms_subject",
    "verdict",
    "verify_call",
]

#: What ``sms_subject`` reads of a record, and what ``verify`` reads before its step.
#: The record field naming the HTTP API key that owns a verification.
SITE_FIELD = "site"
SUBJECT_FIELDS = ("phone", "region", "sends")
VERIFY_FIELDS = ("phone_key", "prefix_key", "requester")


@dataclass(frozen=True, slots=True)
class Call:
    """One script run: ``name`` (a ``lua/<name>.lua``), its KEYS and its one JSON argument."""

    name: str
    keys: list[str]
    arg: Mapping[str, Any]

    def argv(self, clock: Callable[[], float] | None = None) -> list[str]:
        """ARGV; a test ``clock`` replaces the Redis server's time (``now_ms``)."""
        arg = self.arg if clock is None else {**self.arg, "now_ms": int(clock() * 1000)}
        return [json.dumps(arg)]


def answer(raw: str) -> dict[str, Any]:
    """A script's reply: one JSON object."""
    out: dict[str, Any] = json.loads(raw)
    return out


def hooks_arg(k: Keys) -> dict[str, str]:
    """Where ``record_event`` keeps a webhook's event for the relay: the stream, and the start
    of an API key's hash name (its ``webhook_url`` says whether the site wants events)."""
    return {"stream": k.webhook_stream, "sites": k.api_key("")}


def on_verification(
    k: Keys, name: str, verification_id: str, keys: Sequence[str], arg: Mapping[str, Any]
) -> Call:
    """A step on one verification: KEYS start with its record and history, ARGV names it and
    the channel its events go to, and the webhook stream (the shape every such script
    expects)."""
    return Call(
        name,
        [k.record(verification_id), k.history(verification_id), *keys],
        {"id": verification_id, "channel": k.events, "hooks": hooks_arg(k), **arg},
    )


class CreateArgs(TypedDict):
    """The keywords of ``Store.create`` (and ``AsyncStore.create``), written once here."""

    verification_id: str
    idempotency_digest: str | None
    idempotency_ttl_ms: int
    record_ttl_ms: int
    send_window_ms: int
    max_attempts: int
    pending_grace_ms: int  # when the sweep may enqueue the send again, if its message is lost
    extra_fields: NotRequired[Mapping[str, str]]  # more fields for the record (the locale)
    site: NotRequired[str | None]  # the HTTP API key that owns the verification


class AbandonArgs(TypedDict):
    verification_id: str
    sends: int
    idempotency_digest: NotRequired[str | None]


class ResendArgs(TypedDict):
    verification_id: str
    sends: int
    send_window_ms: int
    max_attempts: int
    max_sends: int
    record_ttl_ms: int
    pending_grace_ms: int


class VerifyArgs(TypedDict):
    verifier_key: str | None
    window_ms: int
    phone_limit: int
    ip_limit: int
    pumping_window_ms: int


def _idempotency(k: Keys, digest: str | None) -> str:
    return k.idempotency(digest) if digest else k.unused


def create_call(k: Keys, gate: SmsGate, stats_key: str, **a: Unpack[CreateArgs]) -> Call:
    """Admit the first SMS of a new verification and write its record (``create.lua``)."""
    verification_id, idempotency_digest = a["verification_id"], a["idempotency_digest"]
    return on_verification(
        k,
        "create",
        verification_id,
        [
            _idempotency(k, idempotency_digest),
            *gate_keys(k, gate, stats_key),
            k.pending_sends,
            k.sends_published,
        ],
        {
            "record_ttl_ms": a["record_ttl_ms"],
            "pending_grace_ms": a["pending_grace_ms"],
            "send_window_ms": a["send_window_ms"],
            "max_attempts": a["max_attempts"],
            "idempotency_ttl_ms": a["idempotency_ttl_ms"] if idempotency_digest else 0,
            "fields": {
                "phone_key": gate.phone_key,
                "prefix_key": gate.prefix_key,
                "requester": gate.ip_key or "",
                **a.get("extra_fields", {}),
                **({SITE_FIELD: a["site"]} if a.get("site") else {}),
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


def abandon_call(k: Keys, gate: SmsGate, stats_key: str, **a: Unpack[AbandonArgs]) -> Call:
    """The publish for the ``sends``-th SMS failed: give back what its admission counted."""
    verification_id, sends = a["verification_id"], a["sends"]
    return on_verification(
        k,
        "abandon",
        verification_id,
        [
            _idempotency(k, a.get("idempotency_digest")),
            *gate_keys(k, gate, stats_key),
            k.pending_sends,
        ],
        {"resend": sends > 1, "gate": gate_arg(gate, f"{verification_id}:{sends}")},
    )


def sms_subject(values: Sequence[Any]) -> SmsSubject | None:
    """``values``: the record's ``SUBJECT_FIELDS``."""
    phone, region, sends = values
    if not phone:
        return None
    return SmsSubject(str(phone), str(region or "ZZ"), int(sends or 0))


def resend_call(k: Keys, gate: SmsGate, stats_key: str, **a: Unpack[ResendArgs]) -> Call:
    verification_id, sends = a["verification_id"], a["sends"]
    return on_verification(
        k,
        "resend",
        verification_id,
        [k.poll, *gate_keys(k, gate, stats_key), k.pending_sends, k.sends_published],
        {
            "send_window_ms": a["send_window_ms"],
            "max_attempts": a["max_attempts"],
            "max_sends": a["max_sends"],
            "record_ttl_ms": a["record_ttl_ms"],
            "pending_grace_ms": a["pending_grace_ms"],
            "sends": sends,
            "gate": gate_arg(gate, f"{verification_id}:{sends + 1}"),
        },
    )


def resent(out: Mapping[str, Any]) -> tuple[ResendOutcome, str] | Refusal:
    """(outcome, state for not_allowed) or the gate's refusal."""
    if out["outcome"] == "refused":
        return refusal(out)
    return ResendOutcome(out["outcome"]), str(out.get("state", ""))


def verify_call(
    k: Keys,
    verification_id: str,
    candidates: Sequence[str],
    subject: Sequence[Any],
    stats_key: str,
    **a: Unpack[VerifyArgs],
) -> Call:
    """``verify.lua``: ``candidates`` are the typed code's digests under each key that may have
    stored it (one attempt, whichever matches). ``subject``: the record's ``VERIFY_FIELDS``,
    read first to name the logs the step touches (they never change after the record is
    written, so nothing slips between)."""
    phone_key, prefix_key, requester = subject
    verifier_key = a["verifier_key"]
    return on_verification(
        k,
        "verify",
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
            "window_ms": a["window_ms"],
            "phone_limit": a["phone_limit"] if phone_key else 0,
            "ip_limit": a["ip_limit"],
            "has_ip": verifier_key is not None,
            "pumping_window_ms": a["pumping_window_ms"],
            "stats_ttl_ms": STATS_TTL_MS,
        },
    )


def verdict(out: Mapping[str, Any]) -> Verdict:
    reason = VerifyReason(out["reason"])
    phone = str(out.get("phone") or "") if reason is VerifyReason.OK else ""
    return Verdict(reason, int(out["left"]), int(out["retry_after_ms"]), phone or None)


def cancel_call(k: Keys, verification_id: str) -> Call:
    return on_verification(k, "cancel", verification_id, [k.poll, k.pending_sends], {})


def canceled(out: Mapping[str, Any]) -> Canceled:
    return Canceled(CancelOutcome(out["outcome"]), str(out.get("state", "")))


class Pipe(Protocol):
    """What a pipeline of either client queues (the thread one and ``redis.asyncio``'s)."""

    def hgetall(self, name: str) -> Any: ...
    def lrange(self, name: str, start: int, end: int) -> Any: ...
    def hincrby(self, name: str, key: str, amount: int = 1) -> Any: ...
    def pexpire(self, name: str, time: int) -> Any: ...


def queue_load(pipe: Pipe, k: Keys, verification_id: str) -> None:
    """The record and its history, read in one round trip; ``loaded`` reads the answers."""
    pipe.hgetall(k.record(verification_id))
    pipe.lrange(k.history(verification_id), 0, -1)


def loaded(answers: Sequence[Any]) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """The record and its history (oldest event first); ({}, []) when there is none."""
    record, history = answers
    return record, [json.loads(item) for item in history]


def queue_refusal_count(pipe: Pipe, k: Keys, stats_key: str, reason: str) -> None:
    """A refusal decided in Python counted as the Lua steps count theirs: bucket and totals."""
    pipe.hincrby(stats_key, f"refused:{reason}", 1)
    pipe.pexpire(stats_key, STATS_TTL_MS)
    pipe.hincrby(k.totals, f"refused:{reason}", 1)
