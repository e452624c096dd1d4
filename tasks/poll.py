"""``poll_status``: one batched ``state`` request, then the next poll is queued; each run (and
each worker start) also enqueues again the sends whose message was lost."""

from __future__ import annotations

import logging
import time
from typing import Any

from celery.exceptions import Reject
from celery.signals import worker_ready

from tasks.send import UNAVAILABLE_PAUSE_SECONDS
from worker.queue.names import POLL_TASK
from worker.runtime import celery_app, get_runtime
from worker.steps.polling import poll_due, schedule_next_poll
from worker.steps.sweeping import requeue_lost_sends
from worker.store import StoreUnavailable

app = celery_app()
log = logging.getLogger("targetsms.poll")


@app.task(name=POLL_TASK, ignore_result=True)
def poll_status(marker: str = "") -> int:
    rt = get_runtime()
    try:
        requeue_lost_sends(rt)  # first: a failure here leaves the poll to run again
        report = poll_due(rt, str(marker))
    except StoreUnavailable as exc:
        log.warning("poll: %s, requeued", exc)
        time.sleep(UNAVAILABLE_PAUSE_SECONDS)
        raise Reject(requeue=True) from None
    if report.next_poll is not None:
        rt.queue.enqueue_poll(report.next_poll.marker, report.next_poll.delay_seconds)
    return report.asked


@worker_ready.connect
def resume_polling(**_: Any) -> None:
    """Re-arm polling when a worker starts, in case a poll task was lost with a broker."""
    rt = get_runtime()
    try:
        requeue_lost_sends(rt)
        scheduled = schedule_next_poll(rt)
    except StoreUnavailable:
        return  # the next send re-arms it
    if scheduled is not None:
        rt.queue.enqueue_poll(scheduled.marker, scheduled.delay_seconds)
