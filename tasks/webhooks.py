"""``deliver_webhook``: one signed POST of one event to a site; bounded retries with backoff.

The message carries the key's name, the message id and the event's JSON (ids and states, no
code or number); the URL and secret are read when it runs, so a revoked key or a removed
webhook stops deliveries at once.
"""

from __future__ import annotations

import logging
import time

from celery import Task
from celery.exceptions import Reject

from tasks.send import UNAVAILABLE_PAUSE_SECONDS
from worker.errors import GatewayError
from worker.http.transport import RequestsTransport
from worker.queue.names import WEBHOOK_TASK
from worker.runtime import celery_app, get_runtime
from worker.steps.webhooks import WebhookRefused, deliver
from worker.store import StoreUnavailable

app = celery_app()
log = logging.getLogger("targetsms.webhooks")

#: Tries after the first, and the backoff between them: 2, 4, 8 ... 256 s (about 8.5 min).
MAX_RETRIES = 8
_transport = RequestsTransport(pool_size=32)


def backoff(retries: int) -> int:
    return int(min(2 ** (retries + 1), 300))


@app.task(name=WEBHOOK_TASK, bind=True, max_retries=MAX_RETRIES, ignore_result=True)
def deliver_webhook(self: Task, site: str, message_id: str, body: str) -> str:  # type: ignore[type-arg]
    rt = get_runtime()
    try:
        delivered = deliver(rt, str(site), str(message_id), str(body), transport=_transport)
    except StoreUnavailable:
        time.sleep(UNAVAILABLE_PAUSE_SECONDS)
        raise Reject(requeue=True) from None
    except (WebhookRefused, GatewayError) as exc:
        what = f"{exc.status}" if isinstance(exc, WebhookRefused) else exc.code
        if self.request.retries >= MAX_RETRIES:
            log.warning("webhook %s for %s given up (%s)", message_id, site, what)
            return "given_up"
        log.info("webhook %s for %s: %s, retried", message_id, site, what)
        raise self.retry(countdown=backoff(self.request.retries)) from None
    return "delivered" if delivered else "dropped"
