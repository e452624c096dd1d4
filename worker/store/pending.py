"""Pending sends: the safety net for a send whose task message was lost.

A record and its message live apart: after a failover (asynchronous replication) the record
may survive while its message, or kombu's unacked copy of it, does not. So the create and
resend steps also note the id here, due once the broker would have redelivered it, and number
its message in a count of send messages published; the claim takes it out. A sweep hands back
the ids still due whose message the queue cannot still hold, to enqueue again; a second message
is harmless (the claim and the send lock).
"""

from __future__ import annotations

from worker.store.core import StoreCore, chunked, guarded
from worker.store.results import Overdue, Swept

__all__ = ["PendingSends"]


class PendingSends(StoreCore):
    @guarded
    def overdue_sends(self) -> Overdue:
        """How many noted sends are past their grace, and the count of send messages published
        (one round trip): the sweep asks the broker how full the queue is only when some are."""
        k = self.keys
        now_ms = int(self._now() * 1000)
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.zcount(k.pending_sends, "-inf", now_ms)
            pipe.get(k.sends_published)
            count, published = pipe.execute()
        return Overdue(int(count), int(published or 0))

    @guarded
    def sweep_sends(
        self, batch: int, grace_ms: int, queued: int = 0, published: int | None = None
    ) -> Swept:
        """Up to ``batch`` due sends to enqueue again; each is due again ``grace_ms`` later.

        ``queued``: the send messages waiting in the broker's queue, read after ``published``
        (``Overdue.published``; None: the count now). A due send with fewer messages published
        after its own than are queued is postponed (it stays due): first in, first out, its
        message is probably still waiting (``sweep_sends.lua``)."""
        k = self.keys
        now_ms = int(self._now() * 1000)
        ids = [str(i) for i in self._redis.zrangebyscore(k.pending_sends, "-inf", now_ms, 0, batch)]
        if not ids:
            return Swept()
        if published is None:  # once: every step of this sweep compares against the same count
            published = int(self._redis.get(k.sends_published) or 0)
        arg = {"grace_ms": grace_ms, "queued": max(0, queued), "published": published}
        taken: list[str] = []
        dropped = postponed = 0
        for chunk in chunked(ids):
            out = self._run(
                "sweep_sends",
                [k.pending_sends, k.sends_published, *(k.record(i) for i in chunk)],
                {**arg, "ids": chunk},
            )
            taken += [str(i) for i in out["ids"] or ()]
            dropped += int(out["dropped"])
            postponed += int(out["postponed"])
        return Swept(tuple(taken), dropped, postponed)
