"""The webhook stream: every event of a verification made through the HTTP API, kept until a
relay has queued its delivery.

The Lua steps XADD to it in the same atomic step that publishes the event (``record_event``),
so an event is never published without being kept. Relays read it as one consumer group: an
entry is acknowledged only once its delivery task is in the broker; one a relay read and then
died holding is claimed again by another after ``idle_ms``. Capped at ~100,000 entries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis

from worker.store.core import StoreCore, guarded

__all__ = ["GROUP", "StreamEvent", "WebhookStream"]

GROUP = "webhooks"


@dataclass(frozen=True, slots=True)
class StreamEvent:
    entry_id: str
    site: str
    event: dict[str, Any]


def _events(entries: Any) -> list[StreamEvent]:
    out = []
    for entry_id, fields in entries or []:
        if not fields:  # trimmed away while pending
            continue
        try:
            event = json.loads(fields.get("event", ""))
        except ValueError:
            event = None
        out.append(StreamEvent(str(entry_id), str(fields.get("site", "")), event or {}))
    return out


class WebhookStream(StoreCore):
    def _ensure_webhook_group(self) -> None:
        try:
            self._redis.xgroup_create(self.keys.webhook_stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    @guarded
    def read_webhook_events(
        self, consumer: str, *, count: int, block_ms: int, idle_ms: int
    ) -> list[StreamEvent]:
        """Entries another relay left unacknowledged for ``idle_ms``, else new ones (waiting
        up to ``block_ms``)."""
        stream = self.keys.webhook_stream
        self._ensure_webhook_group()
        claimed = self._redis.xautoclaim(
            stream, GROUP, consumer, min_idle_time=idle_ms, start_id="0-0", count=count
        )
        stale = _events(claimed[1] if len(claimed) > 1 else [])
        if stale:
            return stale
        answer: Any = self._redis.xreadgroup(
            GROUP, consumer, {stream: ">"}, count=count, block=block_ms
        )
        return _events(answer[0][1]) if answer else []

    @guarded
    def ack_webhook_events(self, entry_ids: list[str]) -> None:
        if not entry_ids:
            return
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.xack(self.keys.webhook_stream, GROUP, *entry_ids)
            pipe.xdel(self.keys.webhook_stream, *entry_ids)
            pipe.execute()
