"""``poll_status``: one batched ``state`` request, then the next poll is queued."""

from __future__ import annotations

from typing import Any

from celery.signals import worker_ready

from worker.celery_app import POLL_TASK, app, enqueue_poll
from worker.polling import poll_due, schedule_next_poll
from worker.runtime import get_runtime


@app.task(name=POLL_TASK, ignore_result=True)
def poll_status(marker: str = "") -> int:
    report = poll_due(get_runtime(), str(marker))
    if report.next_poll is not None:
        enqueue_poll(*report.next_poll)
    return report.asked


@worker_ready.connect
def resume_polling(**_: Any) -> None:
    """Re-arm polling when a worker starts, in case a poll task was lost with a broker."""
    scheduled = schedule_next_poll(get_runtime())
    if scheduled is not None:
        enqueue_poll(*scheduled)
