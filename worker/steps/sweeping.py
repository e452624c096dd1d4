"""Lost sends: enqueue again a queued send whose task message the broker lost.

A failover of an asynchronously replicated Redis may keep a verification's record and lose
its message (or kombu's unacked copy). The store notes every queued send until a worker
claims it (``Store.sweep_sends``); the poll task sweeps what is overdue. Sending twice is
impossible: a duplicated message finds the send claimed, locked or done.
"""

from __future__ import annotations

import logging

from worker.errors import QueueUnavailable
from worker.runtime import Runtime

__all__ = ["SWEEP_BATCH", "requeue_lost_sends"]

log = logging.getLogger("targetsms.sweep")

# Overdue sends taken per sweep (the rest wait for the next poll task, seconds away).
SWEEP_BATCH = 100


def requeue_lost_sends(rt: Runtime) -> int:
    """Enqueue ``send_code`` for every overdue pending send; returns how many were enqueued.

    An id whose enqueue fails (the broker is away) is due again after the grace."""
    swept = rt.store.sweep_sends(SWEEP_BATCH, rt.settings.pending_send_grace_ms)
    enqueued = 0
    for verification_id in swept.ids:
        try:
            rt.queue.enqueue_send(verification_id)
        except QueueUnavailable:
            log.warning("lost sends: broker unavailable, %d left for the next sweep",
                        len(swept.ids) - enqueued)  # fmt: skip
            break
        enqueued += 1
        log.warning("lost send %s enqueued again", verification_id)
    if swept.dropped:
        log.info("lost sends: %d no longer pending", swept.dropped)
    return enqueued
