"""``poll_status``: one batched ``state`` request, then the next poll is queued.

Every worker also sweeps on a timer of its own (``Sweeper``, a worker bootstep): sends whose
message was lost are enqueued again and a lost chain of poll tasks is queued again. The timer is
the worker's, not a message's, so a failover that loses every message in flight cannot stop it;
each worker start sweeps at once too (``resume_polling``)."""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import bootsteps
from celery.exceptions import Reject
from celery.signals import worker_ready
from celery.utils.timer2 import Timer
from kombu.exceptions import OperationalError

from tasks.send import UNAVAILABLE_PAUSE_SECONDS
from worker.errors import ServiceUnavailable
from worker.queue.names import POLL_TASK
from worker.runtime import celery_app, get_runtime
from worker.steps.polling import poll_due
from worker.steps.sweeping import requeue_lost_sends, sweep, sweep_interval_seconds
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


def sweep_lost_work() -> None:
    """One sweep (``worker.steps.sweeping.sweep``); Redis or the broker away is one warning
    line, and the next sweep tries again."""
    try:
        report = sweep(get_runtime())
    except ServiceUnavailable as exc:
        log.warning("sweep: %s, again at the next one", exc)
        return
    except OperationalError as exc:  # enqueue_poll: kombu's own error, its text left out
        log.warning("sweep: the broker did not take a poll task (%s), again at the next one",
                    type(exc).__name__)  # fmt: skip
        return
    if report.poll_queued:
        log.warning("polling re-armed: the last poll task was lost")


@worker_ready.connect
def resume_polling(**_: Any) -> None:
    """Sweep when a worker starts, in case a send or a poll task was lost with a broker."""
    sweep_lost_work()


class Sweeper(bootsteps.StartStopStep):
    """Sweeps every ``sweep_interval_seconds`` on a timer thread of its own (Celery's
    ``timer2.Timer``): not the worker's timer, which under the event loop runs in the
    consumer's loop, where a Redis failover would block consuming for a socket timeout."""

    # After the pool: a prefork pool has forked, and the thread runs in the main process only.
    requires = ("celery.worker.components:Pool",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.timer: Timer | None = None

    def start(self, parent: Any) -> None:
        interval = sweep_interval_seconds(get_runtime().settings)
        self.timer = Timer(max_interval=1.0)  # a stop waits at most this for the thread
        self.timer.call_repeatedly(interval, sweep_lost_work)
        log.info("sweeping lost sends and polls every %.1f s", interval)

    def stop(self, parent: Any) -> None:
        if self.timer is not None:
            self.timer.stop()
            self.timer = None

    def terminate(self, parent: Any) -> None:
        self.stop(parent)


app.steps["worker"].add(Sweeper)
