"""Pending sends: the safety net for a send whose task message was lost.

A record and its message live apart: after a failover (asynchronous replication) the record
may survive while its message, or kombu's unacked copy of it, does not. So the create and
resend steps also note the id here, due once the broker would have redelivered it; the claim
takes it out. A sweep hands back the ids still due, to enqueue again; a second message is
harmless (the claim and the send lock).
"""

from __future__ import annotations

from worker.store.core import StoreCore, guarded
from worker.store.results import Swept

__all__ = ["PendingSends"]


class PendingSends(StoreCore):
    @guarded
    def sweep_sends(self, batch: int, grace_ms: int) -> Swept:
        """Up to ``batch`` due sends to enqueue again; each is due again ``grace_ms`` later."""
        k = self.keys
        now_ms = int(self._now() * 1000)
        ids = [str(i) for i in self._redis.zrangebyscore(k.pending_sends, "-inf", now_ms, 0, batch)]
        if not ids:
            return Swept()
        out = self._run(
            "sweep_sends",
            [k.pending_sends, *(k.record(i) for i in ids)],
            {"ids": ids, "grace_ms": grace_ms},
        )
        return Swept(tuple(str(i) for i in out["ids"] or ()), int(out["dropped"]))
