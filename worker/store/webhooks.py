"""The webhook stream: the events a webhook carries, of verifications made through the HTTP API
with a key that has a webhook URL, kept until a relay has queued their delivery.

The Lua steps XADD to it in the same atomic step that publishes the event (``record_event``),
so such an event is never published without being kept; the others (``queued``, ``sending``,
a pending delivery status; any event of a key without a webhook) never reach it, so a site
without a webhook costs the relay nothing. Relays read it as one consumer group: an
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
_FORGET_MS = 24 * 3600 * 1000


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
        up to ``block_ms``). The group is made on the first read that finds none."""
        try:
            return self._read_webhook_events(consumer, count, block_ms, idle_ms)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
        self._ensure_webhook_group()
        return self._read_webhook_events(consumer, count, block_ms, idle_ms)

    def _read_webhook_events(
        self, consumer: str, count: int, block_ms: int, idle_ms: int
    ) -> list[StreamEvent]:
        stream = self.keys.webhook_stream
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
    def webhook_relay_seen(self, consumer: str) -> None:
        """Note that relay ``consumer`` is running (``run_relay`` does every few seconds);
        relays not seen for a day are forgotten."""
        now = int(self._now() * 1000)
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self.keys.webhook_relays, {consumer: now})
            pipe.zremrangebyscore(self.keys.webhook_relays, "-inf", now - _FORGET_MS)
            pipe.execute()

    @guarded
    def webhook_relays(self) -> dict[str, int]:
        """Each relay seen in the last day, and the ms since it last said it was running."""
        now = int(self._now() * 1000)
        rows = self._redis.zrange(self.keys.webhook_relays, 0, -1, withscores=True)
        return {str(name): max(now - int(seen), 0) for name, seen in rows}

    @guarded
    def ack_webhook_events(self, entry_ids: list[str]) -> None:
        if not entry_ids:
            return
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.xack(self.keys.webhook_stream, GROUP, *entry_ids)
            pipe.xdel(self.keys.webhook_stream, *entry_ids)
            pipe.execute()
