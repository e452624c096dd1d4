"""Lost work: enqueue again a queued send whose task message the broker lost, and queue a
poll task again when the chain of poll tasks was lost.

A failover of an asynchronously replicated Redis may keep a verification's record and lose
its message (or kombu's unacked copy), and it may lose the poll task that carries polling from
one run to the next. The store notes every queued send until a worker claims it
(``Store.sweep_sends``); every worker sweeps what is overdue on a timer of its own
(``tasks.poll.Sweeper``), so the sweep needs no message that a failover could lose. Sending
twice is impossible: a duplicated message finds the send claimed, locked or done. Overdue is
not lost, though: a send whose message still waits in a backlog is postponed, not doubled
(``requeue_lost_sends``).
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
    """How often a worker sweeps: at most half the grace, so a lost send with no backlog ahead
    of it waits at most one and a half graces (three quarters of its send window) before it
    is enqueued again."""
    return min(SWEEP_INTERVAL_MAX_SECONDS, settings.pending_send_grace_ms / 2000)


def requeue_lost_sends(rt: Runtime) -> int:
    """Enqueue ``send_code`` for every overdue pending send whose message the send queue
    cannot still hold; returns how many were enqueued.

    Overdue is not lost: a backlog longer than the grace (4,000 sends queued, 42 drained a
    second) holds messages older than it, and enqueueing those again only lengthens the queue.
    So the sweep asks the broker how many messages wait in the send queue (a passive declare,
    as the metrics exporter reads it) and the store postpones a due send while fewer send
    messages were published after its own than that (``Store.sweep_sends``): first in, first
    out, its message is still waiting. Once the queue has taken every message published before
    a lost send's, the next sweep enqueues it: at the latest one sweep interval after the later
    of its grace and the time its message would have left the queue. A count of messages, not
    the send's rank among pending sends: a queued message whose send was canceled, or a copy,
    is in the depth and in the count alike, so it cannot hold a lost send back; only messages
    nobody counted (Celery's own retries of a busy send) can, until they leave the queue. The
    error left goes the harmless way: messages lost after a live one make it look lost too, one
    copy per message lost. RabbitMQ cannot show a queued message's age without taking it, so
    the depth (which both brokers answer) is what the sweep asks.

    Nothing overdue: one Redis command, no broker. The broker away when asked for the depth:
    one warning, nothing taken, every overdue id due at the next sweep; an id whose enqueue
    then fails is due again after the grace."""
    store, queue = rt.store, rt.queue
    overdue = store.overdue_sends()
    if not overdue.count:
        return 0
    try:
        queued = queue.send_backlog()  # after the count of messages published, never before
    except QueueUnavailable as exc:
        log.warning("lost sends: %s, %d overdue left for the next sweep", exc, overdue.count)
        return 0
    grace_ms = rt.settings.pending_send_grace_ms
    swept = store.sweep_sends(SWEEP_BATCH, grace_ms, queued, overdue.published)
    enqueued = 0
    for verification_id in swept.ids:
        try:
            queue.enqueue_send(verification_id)
        except QueueUnavailable:
            log.warning("lost sends: broker unavailable, %d left for the next sweep",
                        len(swept.ids) - enqueued)  # fmt: skip
            break
        enqueued += 1
        log.warning("lost send %s enqueued again", verification_id)
    if swept.postponed:  # every sweep while a backlog lasts: not worth a line at INFO
        log.debug("lost sends: %d overdue postponed, their messages probably still queued",
                  swept.postponed)  # fmt: skip
    if swept.dropped:
        log.info("lost sends: %d no longer pending", swept.dropped)
    return enqueued


def sweep(rt: Runtime) -> SweepReport:
    """Lost sends first (a code waits on them), then polling re-armed if its chain was lost.

    ``StoreUnavailable`` when Redis is away, and whatever the broker raises when a poll task
    could not be queued: the next sweep tries again."""
    requeued = requeue_lost_sends(rt)
    return SweepReport(requeued=requeued, poll_queued=rearm_polling(rt))
