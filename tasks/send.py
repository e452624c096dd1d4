"""``send_code``: the message carries the verification id and nothing else."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from celery import Task
from celery.exceptions import Reject
from celery.signals import worker_init

from worker.core.codes import is_verification_id
from worker.core.outcomes import SendVerdict
from worker.queue.names import SEND_TASK
from worker.runtime import celery_app, get_runtime
from worker.steps.sending import send_verification
from worker.store import StoreUnavailable

app = celery_app()
log = logging.getLogger("targetsms.send")

# Pause before handing a message back while Redis is unreachable, so it is not spun on.
UNAVAILABLE_PAUSE_SECONDS = 1.0

_STABLE_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")


class SendFailed(Exception):
    """The send ended ``failed``: the task ends in FAILURE (Flower counts it) with the record's
    stable error code as its only text, e.g. ``SendFailed('auth_failed')``. Never retried: the
    record is final, and a new code is the user's ``resend``."""

    def __init__(self, code: str | None) -> None:
        # Only a stable code reaches Flower and the logs, never a gateway's free text.
        super().__init__(code if code and _STABLE_CODE.fullmatch(code) else "send_failed")


@worker_init.connect
def load_the_provider(**_: Any) -> None:
    """The provider (its HTTP and XML stack, its connection pool) is built on first use, which
    spares producers; a worker sends, so it builds it at start, outside any send's deadline."""
    get_runtime().provider  # noqa: B018


# ``throws``: an expected outcome, logged by Celery as one line rather than with a traceback.
@app.task(name=SEND_TASK, bind=True, max_retries=None, ignore_result=True, throws=(SendFailed,))
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
    if outcome.result is SendVerdict.BUSY:
        # Another worker holds the send lock; if it died, the lock expires and we go on.
        raise self.retry(countdown=outcome.retry_in)
    if outcome.result is SendVerdict.FAILED:
        raise SendFailed(outcome.error)
    if outcome.poll is not None:
        rt.queue.enqueue_poll(outcome.poll.marker, outcome.poll.delay_seconds)
    return outcome.result
