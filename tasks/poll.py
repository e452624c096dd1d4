"""``poll_status``: one batched ``state`` request, then the next poll is queued."""

from __future__ import annotations

import logging
import time
from typing import Any

from celery.exceptions import Reject
from celery.signals import worker_ready

from worker.celery_app import POLL_TASK, app, enqueue_poll
from worker.polling import poll_due, schedule_next_poll
from worker.runtime import get_runtime
from worker.store import UNAVAILABLE

from .send import UNAVAILABLE_PAUSE_SECONDS

log = logging.getLogger("targetsms.poll")


@app.task(name=POLL_TASK, ignore_result=True)
def poll_status(marker: str = "") -> int:
    try:
        report = poll_due(get_runtime(), str(marker))
    except UNAVAILABLE as exc:
        log.warning("poll: Redis unavailable (%s), requeued", type(exc).__name__)
        time.sleep(UNAVAILABLE_PAUSE_SECONDS)
        raise Reject(requeue=True) from None
    if report.next_poll is not None:
        enqueue_poll(*report.next_poll)
    return report.asked


@worker_ready.connect
def resume_polling(**_: Any) -> None:
    """Re-arm polling when a worker starts, in case a poll task was lost with a broker."""
    try:
        scheduled = schedule_next_poll(get_runtime())
    except UNAVAILABLE:
        return  # the next send re-arms it
    if scheduled is not None:
        enqueue_poll(*scheduled)
