"""The producer's steps: create a verification, resend, verify, cancel, read it back.

Every SMS these steps spend passes the gate in the same Lua step that writes the record, so
parallel requests cannot slip between a check and its counter.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from worker.core.gate import SmsGate
from worker.core.outcomes import VerifyReason
from worker.store.api_keys import SITE_FIELD
from worker.store.core import STATS_TTL_MS, StoreCore, guarded
from worker.store.gate import gate_arg, gate_keys, refusal
from worker.store.results import (
    Canceled,
    CancelOutcome,
    Created,
    Refusal,
    ResendOutcome,
    SmsSubject,
    Verdict,
)

__all__ = ["Verifications"]


class Verifications(StoreCore):
    @guarded
    def create(
        self,
        gate: SmsGate,
        *,
        verification_id: str,
        idempotency_digest: str | None,
        idempotency_ttl_ms: int,
        record_ttl_ms: int,
        send_window_ms: int,
        max_attempts: int,
        site: str | None = None,
    ) -> Created | Refusal:
        """Admit the first SMS of a new verification and write its record (``create.lua``);
        ``site`` names the API key that owns it."""
        k = self.keys
        out = self._verification_step(
            "create",
            verification_id,
            [
                k.idempotency(idempotency_digest) if idempotency_digest else k.unused,
                *gate_keys(k, gate, self.stats_key()),
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
                    **({SITE_FIELD: site} if site else {}),
                },
                "gate": gate_arg(gate, f"{verification_id}:1"),
            },
        )
        if out["outcome"] == "refused":
            return refusal(out)
        if out["outcome"] == "existing":
            return Created(str(out["id"]), existing=True)
        return Created(verification_id, existing=False, pumping_flagged=bool(out["flagged"]))

    @guarded
    def abandon(
        self,
        gate: SmsGate,
        *,
        verification_id: str,
        sends: int,
        idempotency_digest: str | None = None,
    ) -> None:
        """The publish for the ``sends``-th SMS failed: give back what its admission counted."""
        k = self.keys
        self._verification_step(
            "abandon",
            verification_id,
            [
                k.idempotency(idempotency_digest) if idempotency_digest else k.unused,
                *gate_keys(k, gate, self.stats_key()),
            ],
            {"resend": sends > 1, "gate": gate_arg(gate, f"{verification_id}:{sends}")},
        )

    @guarded
    def sms_subject(self, verification_id: str) -> SmsSubject | None:
        phone, region, sends = self._redis.hmget(
            self.keys.record(verification_id), ["phone", "region", "sends"]
        )
        if not phone:
            return None
        return SmsSubject(str(phone), str(region or "ZZ"), int(sends or 0))

    @guarded
    def resend(
        self,
        gate: SmsGate,
        *,
        verification_id: str,
        sends: int,
        send_window_ms: int,
        max_attempts: int,
        max_sends: int,
        record_ttl_ms: int,
    ) -> tuple[ResendOutcome, str] | Refusal:
        """(outcome, state for not_allowed) or the gate's refusal (``resend.lua``)."""
        k = self.keys
        out = self._verification_step(
            "resend",
            verification_id,
            [k.poll, *gate_keys(k, gate, self.stats_key())],
            {
                "send_window_ms": send_window_ms,
                "max_attempts": max_attempts,
                "max_sends": max_sends,
                "record_ttl_ms": record_ttl_ms,
                "sends": sends,
                "gate": gate_arg(gate, f"{verification_id}:{sends + 1}"),
            },
        )
        if out["outcome"] == "refused":
            return refusal(out)
        return ResendOutcome(out["outcome"]), str(out.get("state", ""))

    @guarded
    def verify(
        self,
        verification_id: str,
        candidates: Sequence[str],
        *,
        verifier_key: str | None,
        window_ms: int,
        phone_limit: int,
        ip_limit: int,
        pumping_window_ms: int,
    ) -> Verdict:
        """``verify.lua``: ``candidates`` are the typed code's digests under each key that may
        have stored it (one attempt, whichever matches). The record's subject keys are read
        first to name the logs it touches: they never change after the record is written, so
        nothing can slip between."""
        k = self.keys
        phone_key, prefix_key, requester = self._redis.hmget(
            k.record(verification_id), ["phone_key", "prefix_key", "requester"]
        )
        out = self._verification_step(
            "verify",
            verification_id,
            [
                k.guess_log(str(phone_key or ""), str(requester or "")),
                k.verifier_log(verifier_key) if verifier_key else k.unused,
                k.pumping(str(prefix_key or ""), "v"),
                self.stats_key(),
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
        reason = VerifyReason(out["reason"])
        phone = str(out.get("phone") or "") if reason is VerifyReason.OK else ""
        return Verdict(reason, int(out["left"]), int(out["retry_after_ms"]), phone or None)

    @guarded
    def cancel(self, verification_id: str) -> Canceled:
        out = self._verification_step("cancel", verification_id, [self.keys.poll], {})
        return Canceled(CancelOutcome(out["outcome"]), str(out.get("state", "")))

    @guarded
    def load(self, verification_id: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
        """The record and its history (oldest event first); ({}, []) when there is none."""
        k = self.keys
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(k.record(verification_id))
            pipe.lrange(k.history(verification_id), 0, -1)
            record, history = pipe.execute()
        return record, [json.loads(item) for item in history]
