"""Verifications written through the Store's own steps, as a producer and a worker would: the
store tier needs no broker, no worker and no gateway to reach any state of a record."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from worker.core.codes import new_verification_id
from worker.core.gate import DAY_MS, HOUR_MS, Limit, PumpingPolicy, SmsGate
from worker.store import ClaimOutcome, Created, Store, Stored

PHONE = "+79001234567"
CODE_DIGEST = "c0de" * 16
RECORD_TTL_MS = 3_600_000
SEND_WINDOW_MS = 90_000
CODE_TTL_MS = 300_000
MAX_ATTEMPTS = 3
MAX_SENDS = 3
LOCK_TTL_MS = 60_000
PENDING_GRACE_MS = 90_000  # the sweep's grace (visibility timeout plus lock TTL)
TOKEN = "token-a"  # the claimant `claimed` and `store_sent` act as
POLL = {"poll_ttl_ms": 3_600_000, "poll_slack_ms": 1_000, "poll_grace_ms": 5_000, "poll_batch": 10}
# Pumping that never fires unless a test asks for it.
NO_PUMPING = PumpingPolicy(
    refuse=False, window_ms=DAY_MS, min_sends=10**6, min_conversion=0.0, cooloff_ms=HOUR_MS
)


def gate(
    phone: str = PHONE, *, ip: str | None = "ip-1", per_hour: int = 100, **changes: Any
) -> SmsGate:
    """A gate whose subjects are plain names (the product passes keyed digests)."""
    phone_key, prefix_key = f"phone:{phone}", f"prefix:{phone[:-4]}"
    limits = [Limit("phone_hour", phone_key, HOUR_MS, per_hour)]
    if ip is not None:
        limits.append(Limit("ip_hour", ip, HOUR_MS, 1000))
    return dataclasses.replace(
        SmsGate(
            phone=phone,
            region="RU",
            phone_key=phone_key,
            prefix_key=prefix_key,
            ip_key=ip,
            limits=tuple(limits),
            captcha_passed=False,
            step_up=None,
            pumping=NO_PUMPING,
        ),
        **changes,
    )


@dataclass
class Steps:
    """Reach a record's states through the Store's steps, with the product's argument shapes."""

    store: Store

    def create(
        self,
        sms_gate: SmsGate | None = None,
        *,
        idempotency: str | None = None,
        site: str | None = None,
    ) -> Created:
        created = self.store.create(
            sms_gate or gate(),
            verification_id=new_verification_id(),
            idempotency_digest=idempotency,
            idempotency_ttl_ms=RECORD_TTL_MS,
            record_ttl_ms=RECORD_TTL_MS,
            send_window_ms=SEND_WINDOW_MS,
            max_attempts=MAX_ATTEMPTS,
            pending_grace_ms=PENDING_GRACE_MS,
            site=site,
        )
        assert isinstance(created, Created), created
        return created

    def queued(self, sms_gate: SmsGate | None = None, *, site: str | None = None) -> str:
        """``site``: made through the HTTP API with that key (the record's owner)."""
        return self.create(sms_gate, site=site).id

    def claimed(self, verification_id: str | None = None, token: str = TOKEN) -> str:
        vid = verification_id or self.queued()
        claim = self.store.claim_send(vid, token, LOCK_TTL_MS)
        assert claim.outcome is ClaimOutcome.CLAIMED, claim
        return vid

    def store_sent(
        self,
        verification_id: str,
        token: str = TOKEN,
        *,
        id_sms: str = "1001",
        first_poll_ms: int = 10_000,
        **changes: Any,
    ) -> Stored:
        arg: dict[str, Any] = {
            "code_digest": CODE_DIGEST,
            "id_sms": id_sms,
            "status": "send",
            "ttl_ms": CODE_TTL_MS,
            "first_poll_ms": first_poll_ms,
            "max_attempts": MAX_ATTEMPTS,
            **POLL,
            **changes,
        }
        return self.store.store_sent(verification_id, token, **arg)

    def sent(
        self,
        sms_gate: SmsGate | None = None,
        *,
        id_sms: str = "1001",
        first_poll_ms: int = 10_000,
        site: str | None = None,
    ) -> str:
        """A verification whose code went out as ``id_sms`` (its digest: ``CODE_DIGEST``)."""
        vid = self.claimed(self.queued(sms_gate, site=site))
        assert self.store_sent(vid, id_sms=id_sms, first_poll_ms=first_poll_ms).stored
        return vid

    def resend(self, verification_id: str, sms_gate: SmsGate | None = None) -> Any:
        sends = int(self.store.load(verification_id)[0]["sends"])
        return self.store.resend(
            sms_gate or gate(),
            verification_id=verification_id,
            sends=sends,
            send_window_ms=SEND_WINDOW_MS,
            max_attempts=MAX_ATTEMPTS,
            max_sends=MAX_SENDS,
            record_ttl_ms=RECORD_TTL_MS,
            pending_grace_ms=PENDING_GRACE_MS,
        )

    def record(self, verification_id: str) -> dict[str, str]:
        return self.store.load(verification_id)[0]

    def events(self, verification_id: str) -> list[str]:
        return [h["event"] for h in self.store.load(verification_id)[1]]
