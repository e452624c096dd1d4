"""The worker's send steps: claim a send, keep its lock, store what the gateway answered.

A send's record names its latest claimant (a token); only that claimant may extend the lock or
end the send, so a worker that stalled past its lock never stores over the one that took over.
"""

from __future__ import annotations

from typing import Any

from worker.store.core import StoreCore, guarded
from worker.store.counters import GatewayTimings, taken
from worker.store.results import Claim, ClaimOutcome, Stored, poll_task

__all__ = ["Sending"]


class Sending(StoreCore):
    @guarded
    def claim_send(self, verification_id: str, token: str, lock_ttl_ms: int) -> Claim:
        k = self.keys
        out = self._verification_step(
            "claim_send",
            verification_id,
            [k.lock(verification_id), k.totals, k.pending_sends],
            {"token": token, "lock_ttl_ms": lock_ttl_ms},
        )
        since = out.get("since_attempt_ms")
        return Claim(
            ClaimOutcome(out["outcome"]),
            phone=str(out.get("phone", "")),
            left_ms=int(out.get("left_ms", 0)),
            state=str(out.get("state", "")),
            lock_ms=int(out.get("lock_ms", 0)),
            resumed=bool(out.get("resumed", False)),
            since_attempt_ms=None if since is None else int(since),
            locale=str(out.get("locale") or ""),
            region=str(out.get("region") or ""),
        )

    @guarded
    def extend_lock(
        self, verification_id: str, token: str, ttl_ms: int, *, attempt_ago_ms: int | None = None
    ) -> bool:
        """True while this claimant still owns the send (the lock is extended or taken again).

        ``attempt_ago_ms`` also notes, in the record, when the last gateway attempt that may
        have been accepted started (0: one starts now), for a send resumed after this one dies.
        """
        k = self.keys
        arg: dict[str, Any] = {"token": token, "ttl_ms": ttl_ms}
        if attempt_ago_ms is not None:
            arg["attempt_ago_ms"] = max(attempt_ago_ms, 0)
        out = self._run("extend_lock", [k.record(verification_id), k.lock(verification_id)], arg)
        return bool(out["held"])

    @guarded
    def store_sent(
        self,
        verification_id: str,
        token: str,
        *,
        code_digest: str,
        id_sms: str,
        status: str,
        ttl_ms: int,
        first_poll_ms: int,
        max_attempts: int,
        poll_ttl_ms: int,
        poll_slack_ms: int,
        poll_grace_ms: int,
        poll_batch: int,
        timings: GatewayTimings | None = None,
        test_number: bool = False,
    ) -> Stored:
        k = self.keys
        out = self._verification_step(
            "store_sent",
            verification_id,
            [k.lock(verification_id), k.poll, k.poll_marker, k.totals, k.sms(id_sms)],
            {
                "token": token,
                "code_hmac": code_digest,
                "id_sms": id_sms,
                "status": status,
                "ttl_ms": ttl_ms,
                "first_poll_ms": first_poll_ms,
                "max_attempts": max_attempts,
                "poll_ttl_ms": poll_ttl_ms,
                "poll_slack_ms": poll_slack_ms,
                "poll_grace_ms": poll_grace_ms,
                "poll_batch": poll_batch,
                "timings": taken(timings),
                "test_number": test_number,
            },
        )
        if out["outcome"] != "sent":
            return Stored(False, str(out.get("state", "")))
        return Stored(True, "sent", poll_task(out))

    @guarded
    def store_failed(
        self,
        verification_id: str,
        token: str,
        *,
        error_code: str,
        message: str,
        id_sms: str = "",
        status: str = "",
        timings: GatewayTimings | None = None,
    ) -> Stored:
        k = self.keys
        out = self._verification_step(
            "store_failed",
            verification_id,
            [k.lock(verification_id), k.totals],
            {
                "token": token,
                "error_code": error_code,
                "message": message,
                "id_sms": id_sms,
                "status": status,
                "timings": taken(timings),
            },
        )
        return Stored(out["outcome"] == "failed", str(out.get("state", "failed")))
