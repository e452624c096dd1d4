"""The live delivery status: the stage a user is told, and a Server-Sent Events stream of it.

The stream outlives the request that opened it (Flask sends it after the view returns), so it
takes the runtime as an argument instead of reading it from the app.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

from worker import (
    ServiceUnavailable,
    VerificationNotFound,
    VerificationStatus,
    get_status,
    watch_events,
)
from worker.runtime import Runtime

#: How long one live-status stream stays open; the browser's EventSource then reconnects.
STREAM_SECONDS = 25.0

_DELIVERED = {"deliver", "partly_deliver"}
_NOT_DELIVERED = {"not_deliver", "expired", "not_valid_phone"}


def current_status(verification_id: str, runtime: Runtime) -> VerificationStatus | None:
    """The verification's status, or None when it is gone or Redis cannot say."""
    with contextlib.suppress(VerificationNotFound, ServiceUnavailable):
        return get_status(verification_id, runtime=runtime)
    return None


def stage(state: str, delivery_status: str | None) -> str:
    """What the user is told: sending, sent, delivered, not delivered, or how it ended."""
    if state in ("queued", "sending"):
        return "sending"
    if state == "failed" or delivery_status in _NOT_DELIVERED:
        return "not_delivered"
    if delivery_status in _DELIVERED:
        return "delivered"
    if state in ("verified", "expired", "locked", "canceled"):
        return state
    return "sent"


def stream(verification_id: str, runtime: Runtime) -> Iterator[str]:
    """The current stage, then each change, for ``STREAM_SECONDS``."""
    # Subscribe first, then read the current status: no change can fall between the two.
    try:
        changes = watch_events(verification_id, timeout=STREAM_SECONDS, runtime=runtime)
    except ServiceUnavailable:
        yield "retry: 5000\n\n"
        return
    try:
        status = get_status(verification_id, runtime=runtime)
        state, delivery = status.state, status.delivery_status
        yield "retry: 1000\n" + _sse(stage(state, delivery))
        for event in changes:
            state = str(event.get("state") or state)
            if "delivery_status" in event:
                delivery = event["delivery_status"] or None
            elif event.get("event") in ("queued", "resend", "sending"):
                delivery = None
            yield _sse(stage(state, delivery))
    except VerificationNotFound:
        yield _sse("gone")
    except ServiceUnavailable:
        yield "retry: 5000\n\n"
    finally:
        changes.close()


def _sse(name: str) -> str:
    return f"event: stage\ndata: {json.dumps({'stage': name})}\n\n"
