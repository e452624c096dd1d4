"""``send_code``: the message carries the verification id and nothing else."""

from __future__ import annotations

import logging

from celery import Task

from worker.celery_app import SEND_TASK, app, enqueue_poll
from worker.codes import is_verification_id
from worker.runtime import get_runtime
from worker.sending import send_verification

log = logging.getLogger("targetsms.send")


@app.task(name=SEND_TASK, bind=True, max_retries=None, ignore_result=True)
def send_code(self: Task, verification_id: str) -> str:  # type: ignore[type-arg]
    if not is_verification_id(verification_id):
        log.error("send_code: malformed verification id dropped")
        return "invalid"
    outcome = send_verification(get_runtime(), verification_id)
    if outcome.result == "busy":
        # Another worker holds the send lock; if it died, the lock expires and we go on.
        raise self.retry(countdown=outcome.retry_in)
    if outcome.poll is not None:
        enqueue_poll(*outcome.poll)
    return outcome.result
