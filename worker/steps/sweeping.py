"""Lost work: enqueue again a queued send whose task message the broker lost, and queue a
poll task again when the chain of poll tasks was lost.

A failover of an asynchronously replicated Redis may keep a verification's record and lose
its message (or kombu's unacked copy), and it may lose the poll task that carries polling from
one run to the next. The store notes every queued send until a worker claims it
(``Store.sweep_sends``); every worker sweeps what is overdue on a timer of its own
(``tasks.poll.Sweeper``), so the sweep needs no message that a failover could lose. Sending
twice is impossible: a duplicated message finds the send claimed, locked or done.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from worker.errors import QueueUnavailable
from worker.runtime import Runtime
from worker.settings import Settings
from worker.steps.polling import rearm_polling

__all__ = [
    "SWEEP_BATCH",
    "SWEEP_INTERVAL_MAX_SECONDS",
    "SweepReport",
    "requeue_lost_sends",
    "sweep",
    "sweep_interval_seconds",
]

log = logging.getLogger("targetsms.sweep")

# Overdue sends taken per sweep (the rest wait for the next sweep, seconds away).
SWEEP_BATCH = 100
# A worker sweeps at least this often: one or two Redis round trips per worker and interval.
SWEEP_INTERVAL_MAX_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class SweepReport:
    requeued: int  # lost sends enqueued again
    poll_queued: bool  # a poll task was queued (none was on its way)


def sweep_interval_seconds(settings: Settings) -> float:
    """How often a worker sweeps: at most half the grace, so a lost send waits at most one and
    a half graces (three quarters of its send window) before it is enqueued again."""
    return min(SWEEP_INTERVAL_MAX_SECONDS, settings.pending_send_grace_ms / 2000)


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


def sweep(rt: Runtime) -> SweepReport:
    """Lost sends first (a code waits on them), then polling re-armed if its chain was lost.

    ``StoreUnavailable`` when Redis is away, and whatever the broker raises when a poll task
    could not be queued: the next sweep tries again."""
    requeued = requeue_lost_sends(rt)
    return SweepReport(requeued=requeued, poll_queued=rearm_polling(rt))
