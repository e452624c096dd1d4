"""The floor: what Celery itself costs per task on this project's app, pool and Redis broker.

``bench/instructions.py --only floor`` starts the worker exactly as the Procfile says, plus
``--include floor_tasks`` (this module, importable from bench/), and queues ``FLOOR_TASK``
messages on the send queue. The tasks are registered on the project's own Celery app, so they
run with the same configuration (late acks, prefetch 1, JSON, no result backend, no events)
and go through the whole consumer path a send goes through: BRPOP, kombu's unacked
bookkeeping, the strategy, the thread pool, Celery's tracer, the ack.

- ``FLOOR_TASK``: an empty body: no Lua step, no gateway call.
- ``GATEWAY_TASK``: the bare loop's call and nothing else: ``TargetSMSClient.send_code`` over
  a keep-alive ``RequestsTransport`` of its own per pool thread, to the phone in the message.
  The least a Celery worker can do per SMS; no Redis step, so no send lock, no record.

Bench only: no product module imports this.
"""

from __future__ import annotations

import contextlib
import threading

from harness import LOGIN, PASSWORD, SENDER, SERVICE

from worker.errors import GatewayError
from worker.providers.targetsms import RequestsTransport, TargetSMSClient
from worker.runtime import celery_app, get_runtime
from worker.settings import default_text

__all__ = ["FLOOR_TASK", "GATEWAY_TASK", "floor", "floor_gateway"]

#: Names of their own, so a stray message can never be mistaken for a send.
FLOOR_TASK = "bench.floor"
GATEWAY_TASK = "bench.floor_gateway"

app = celery_app()
_local = threading.local()


@app.task(name=FLOOR_TASK, ignore_result=True)
def floor(verification_id: str) -> str:
    """The send task's shape (one id in, a short verdict out), with nothing in between."""
    return "sent" if verification_id else "invalid"


def _client() -> TargetSMSClient:
    """This pool thread's client, as the bare loop builds one (the bench's credentials)."""
    client: TargetSMSClient | None = getattr(_local, "client", None)
    if client is None:
        gateway = get_runtime().settings.gateway
        _local.client = client = TargetSMSClient(
            login=LOGIN, password=PASSWORD, sender=SENDER, service_name=SERVICE,
            send_url=gateway.url, state_url=gateway.state_url,
            transport=RequestsTransport(pool_size=1),
        )  # fmt: skip
    return client


@app.task(name=GATEWAY_TASK, ignore_result=True)
def floor_gateway(phone: str) -> str:
    """One ``send_code`` as the bare loop makes it (the same text, code length, errors kept)."""
    with contextlib.suppress(GatewayError):
        _client().send_code(phone, text=default_text(SERVICE), code_length=6)
    return "sent"
