"""``send_code``: the message carries the verification id and nothing else."""

from __future__ import annotations

import logging
import time

from celery import Task
from celery.exceptions import Reject

from worker.celery_app import SEND_TASK, app
from worker.codes import is_verification_id
from worker.runtime import get_runtime
from worker.sending import send_verification
from worker.store import StoreUnavailable

log = logging.getLogger("targetsms.send")

# Pause before handing a message back while Redis is unreachable, so it is not spun on.
UNAVAILABLE_PAUSE_SECONDS = 1.0


@app.task(name=SEND_TASK, bind=True, max_retries=None, ignore_result=True)
def send_code(self: Task, verification_id: str) -> str:  # type: ignore[type-arg]
    if not is_verification_id(verification_id):
        log.error("send_code: malformed verification id dropped")
        return "invalid"
    rt = get_runtime()
    try:
        outcome = send_verification(rt, verification_id)
    except StoreUnavailable as exc:
        # Redis is away: hand the message back rather than ack a send that never happened.
        # (If the broker is that Redis, the message stays unacked there and comes back.)
        log.warning("send %s: %s, requeued", verification_id, exc)
        time.sleep(UNAVAILABLE_PAUSE_SECONDS)
        raise Reject(requeue=True) from None
    if outcome.result == "busy":
        # Another worker holds the send lock; if it died, the lock expires and we go on.
        raise self.retry(countdown=outcome.retry_in)
    if outcome.poll is not None:
        rt.queue.enqueue_poll(outcome.poll.marker, outcome.poll.delay_seconds)
    return outcome.result
