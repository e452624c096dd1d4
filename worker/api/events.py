"""Follow one verification's state changes as they happen, for pages that show live status.

Every state change is published on one channel; this follows it and keeps only the events of
the verification asked about. The events carry ids, states and delivery statuses, never a phone
number or a code.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

from worker.api.producer import ServiceUnavailable
from worker.runtime import Runtime, get_runtime
from worker.store import EventFeed, StoreUnavailable

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
    try:
        feed = rt.store.subscribe_events()
    except StoreUnavailable as exc:
        raise ServiceUnavailable(f"{exc}; try again shortly") from None
    return _follow(feed, verification_id, time.monotonic() + timeout)


def _follow(
    feed: EventFeed, verification_id: str, deadline: float
) -> Generator[dict[str, Any], None, None]:
    try:
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = feed.next(timeout=min(left, 1.0))
            except StoreUnavailable as exc:
                raise ServiceUnavailable(f"{exc}; try again shortly") from None
            if event is not None and event.get("id") == verification_id:
                yield event
    finally:
        feed.close()
