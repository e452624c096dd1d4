"""Follow one verification's state changes as they happen, for pages that show live status.

Every state change is published on one Redis channel (``<OTP_REDIS_PREFIX>events``); this
subscribes to it and keeps only the events of the verification asked about. The events carry
ids, states and delivery statuses, never a phone number or a code.
"""

from __future__ import annotations

import json
import time
from collections.abc import Generator
from typing import Any

from redis.client import PubSub

from .otp import ServiceUnavailable
from .runtime import Runtime, get_runtime
from .store import UNAVAILABLE

__all__ = ["watch"]


def watch(
    verification_id: str, *, timeout: float, runtime: Runtime | None = None
) -> Generator[dict[str, Any], None, None]:
    """Yield this verification's events (``id``, ``event``, ``state``, ``at`` and for delivery
    reports ``delivery_status``) until ``timeout`` seconds have passed.

    The subscription is made before this returns, so a caller that reads ``get_status`` after
    calling it misses nothing in between. Closing the generator (or exhausting it) unsubscribes.
    Raises ``ServiceUnavailable`` when Redis is unreachable, here or while following.
    """
    rt = runtime if runtime is not None else get_runtime()
    pubsub: PubSub = rt.store.redis.pubsub(  # type: ignore[no-untyped-call]  # redis-py: untyped
        ignore_subscribe_messages=True
    )
    try:
        pubsub.subscribe(rt.store.keys.events)
    except UNAVAILABLE:
        pubsub.close()
        raise ServiceUnavailable("storage is unavailable; try again shortly") from None
    return _follow(pubsub, verification_id, time.monotonic() + timeout)


def _follow(
    pubsub: PubSub, verification_id: str, deadline: float
) -> Generator[dict[str, Any], None, None]:
    try:
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = pubsub.get_message(timeout=min(left, 1.0))
            except UNAVAILABLE:
                raise ServiceUnavailable("storage is unavailable; try again shortly") from None
            if message is None or message.get("type") != "message":
                continue
            try:
                event = json.loads(message["data"])
            except (TypeError, ValueError):
                continue
            if isinstance(event, dict) and event.get("id") == verification_id:
                yield event
    finally:
        pubsub.close()
