"""Every verification's state changes, as the Lua steps publish them (``record_event``).

Pub/sub: a watcher sees what happens while it is subscribed; the record and its history
(``Store.load``) hold what came before.
"""

from __future__ import annotations

import json
from typing import Any

from redis.client import PubSub

from worker.store.core import StoreCore, guarded
from worker.store.scripts import translated

__all__ = ["EventFeed", "Events"]


class EventFeed:
    """A subscription to the events channel; ``close`` it when done."""

    def __init__(self, pubsub: PubSub, where: str) -> None:
        self._pubsub = pubsub
        self._where = where

    def next(self, timeout: float) -> dict[str, Any] | None:
        """The next event within ``timeout`` seconds, or None."""
        with translated(self._where):
            message = self._pubsub.get_message(timeout=timeout)
        if message is None or message.get("type") != "message":
            return None
        try:
            event = json.loads(message["data"])
        except (TypeError, ValueError):
            return None
        return event if isinstance(event, dict) else None

    def close(self) -> None:
        self._pubsub.close()


class Events(StoreCore):
    @guarded
    def subscribe_events(self) -> EventFeed:
        """Every verification's state changes from now on, as they are published."""
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(self.keys.events)
        except BaseException:
            pubsub.close()
            raise
        return EventFeed(pubsub, self.where)
