"""Following delivery: one ``state`` request for every verification that is due.

Ids due at about the same time share one poll, each id backs off after every poll, and
polling stops at a final status or at the maximum age. A failed ``state`` call costs nothing
but time: the claimed ids become due again when their lease runs out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from worker.errors import GatewayError
from worker.providers.targetsms import StateEntry
from worker.runtime import Runtime
from worker.store import PollTask

__all__ = ["PollReport", "poll_due", "rearm_polling", "schedule_next_poll"]

log = logging.getLogger("targetsms.poll")

# One poll task serves every send whose first poll falls within this window, and polls follow
# each other at least this far apart unless a full batch is due.
POLL_SLACK_MS = 1000
# A poll task that never ran (lost with a broker) stops blocking new ones after this long; the
# worker's sweep (``rearm_polling``) then queues one again.
POLL_MARKER_GRACE_MS = 60_000
# With pushed statuses (TARGETSMS_PUSH=1) the first poll waits at least this long: polling only
# catches what a lost push missed.
PUSH_FIRST_POLL_SECONDS = 180.0
# Claimed ids are not handed to another poller for this long.
LEASE_MS = 30_000


@dataclass(frozen=True, slots=True)
class PollReport:
    asked: int  # ids in the state request (0: nothing was due, no request made)
    changed: int
    stopped: int
    next_poll: PollTask | None  # the next poll task to queue


def poll_due(rt: Runtime, marker: str = "") -> PollReport:
    s = rt.settings
    store = rt.store
    claimed = store.poll_lease(s.polling.batch_size, LEASE_MS)
    changed = stopped = 0
    if claimed:
        with store.gateway_timings() as timings:  # counted by poll_apply, no round trip
            try:
                entries = rt.provider.get_state(
                    [id_sms for _, id_sms in claimed], time_left=LEASE_MS / 2000
                )
            except GatewayError as exc:
                log.warning("state request for %d ids failed: %s", len(claimed), exc.code)
            else:
                changed, stopped = store.poll_apply(
                    _results(claimed, entries),
                    max_age_ms=s.polling.max_age_seconds * 1000,
                    first_delay_ms=int(s.polling.first_delay_seconds * 1000),
                    max_delay_ms=int(s.polling.max_delay_seconds * 1000),
                    timings=timings,
                )
    next_poll = schedule_next_poll(rt, clear=marker)
    if claimed:
        log.info("polled %d ids: %d changed, %d done", len(claimed), changed, stopped)
    return PollReport(asked=len(claimed), changed=changed, stopped=stopped, next_poll=next_poll)


def _results(
    claimed: list[tuple[str, str]], entries: list[StateEntry]
) -> list[tuple[str, str, str]]:
    """(verification id, id_sms, status or '') for every leased id."""
    by_id = {e.id_sms: e for e in entries}
    results = []
    for verification_id, id_sms in claimed:
        entry = by_id.get(id_sms)
        if entry is not None and entry.error:
            log.info("state for %s: gateway error %r", verification_id, entry.error)
        status = entry.status if entry is not None and entry.status else ""
        results.append((verification_id, id_sms, status))
    return results


def schedule_next_poll(rt: Runtime, clear: str = "") -> PollTask | None:
    """The poll task to queue now; None when one already is."""
    return rt.store.poll_schedule(
        slack_ms=POLL_SLACK_MS,
        grace_ms=POLL_MARKER_GRACE_MS,
        batch=rt.settings.polling.batch_size,
        clear=clear,
    )


def rearm_polling(rt: Runtime) -> bool:
    """Queue a poll task when ids wait for one and none is on its way: the chain of poll tasks
    ends with the last one, so a task lost with a broker (a failover) would stop polling until
    the next send. True when one was queued."""
    scheduled = schedule_next_poll(rt)
    if scheduled is None:
        return False
    rt.queue.enqueue_poll(scheduled.marker, scheduled.delay_seconds)
    return True
