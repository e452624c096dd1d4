"""Webhooks: the events of a site's verifications, POSTed to its URL and signed.

Two steps. ``relay_once`` reads the webhook stream (``store/webhooks.py``: the Lua steps add
each event of an API-made verification to it atomically with the event itself) and queues one
delivery task per event worth telling a site; an entry is acknowledged only once its task is in
the broker, so a relay that dies, or a broker that is away, loses nothing. ``deliver`` is that
task's body: one signed POST (Standard Webhooks: ``webhook-id``, ``webhook-timestamp``,
``webhook-signature``) within one wall-clock deadline, so a receiver that answers slowly or
never holds a worker thread for at most ``DELIVERY_TIMEOUT.overall`` seconds.

Bodies carry the verification's id, state, event and time: never a code or a phone number.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from standardwebhooks import Webhook

from worker.core.delivery import FINAL_STATUSES
from worker.errors import ServiceUnavailable
from worker.http.transport import Timeout, Transport
from worker.http.urls import url_problem
from worker.runtime import Runtime

__all__ = [
    "DELIVERY_TIMEOUT",
    "HEARTBEAT_SECONDS",
    "WebhookRefused",
    "deliver",
    "relay_once",
    "run_relay",
    "webhook_body",
    "webhook_type",
]

log = logging.getLogger("targetsms.webhooks")

#: connect, read, and the whole call's wall-clock limit (worker/http/deadline.py).
DELIVERY_TIMEOUT = Timeout(connect=3.0, read=5.0, total=8.0)
MAX_ANSWER_BYTES = 64 * 1024
_DELIVERED = frozenset({"deliver", "partly_deliver"})
_SIMPLE = {
    "sent": "verification.sent",
    "failed": "verification.failed",
    "verified": "verification.verified",
    "expired": "verification.expired",
    "canceled": "verification.canceled",
    "locked": "verification.locked",
}


class WebhookRefused(Exception):
    """The receiver answered, but not 2xx: worth another try later."""

    def __init__(self, status: int) -> None:
        super().__init__(f"webhook receiver answered {status}")
        self.status = status


def webhook_type(event: dict[str, Any]) -> str | None:
    """The Standard Webhooks ``type`` of a stream event, or None when it is not one we send."""
    name = event.get("event")
    if name == "status":
        status = event.get("delivery_status")
        if status in _DELIVERED:
            return "verification.delivered"
        return "verification.undelivered" if status in FINAL_STATUSES else None
    return _SIMPLE.get(str(name))


def webhook_body(kind: str, event: dict[str, Any]) -> str:
    at = int(event.get("at") or 0)
    data = {"id": event.get("id"), "state": event.get("state"), "event": event.get("event")}
    for extra in ("delivery_status", "error"):
        if event.get(extra):
            data[extra] = event[extra]
    stamp = datetime.fromtimestamp(at / 1000, UTC).isoformat().replace("+00:00", "Z")
    return json.dumps({"type": kind, "timestamp": stamp, "data": data}, separators=(",", ":"))


def relay_once(
    rt: Runtime, consumer: str, *, block_ms: int = 1000, count: int = 100, idle_ms: int = 60_000
) -> int:
    """Queue the deliveries of the events waiting in the stream; returns how many were queued.
    Raises ``ServiceUnavailable`` (Redis or the broker away): what was not queued stays."""
    done: list[str] = []
    queued = 0
    try:
        for item in rt.store.read_webhook_events(
            consumer, count=count, block_ms=block_ms, idle_ms=idle_ms
        ):
            kind = webhook_type(item.event)
            key = rt.store.api_key(item.site) if kind and item.site else None
            if kind and key is not None and key.webhook_url:
                # The entry id is unique and the same on every retry: receivers dedupe on it.
                message_id = "msg_" + item.entry_id.replace("-", "_")
                rt.queue.enqueue_webhook(item.site, message_id, webhook_body(kind, item.event))
                queued += 1
            done.append(item.entry_id)
    finally:
        if done:
            rt.store.ack_webhook_events(done)
    return queued


#: How often a running relay says so (``Store.webhook_relays``, a healthcheck reads it).
HEARTBEAT_SECONDS = 5.0


def run_relay(rt: Runtime, consumer: str, stop: threading.Event) -> None:
    """``relay_once`` until ``stop``; Redis or the broker away is waited out, a second at a
    time (the entries wait in the stream)."""
    next_beat = 0.0
    while not stop.is_set():
        try:
            if time.monotonic() >= next_beat:
                rt.store.webhook_relay_seen(consumer)
                next_beat = time.monotonic() + HEARTBEAT_SECONDS
            relay_once(rt, consumer)
        except ServiceUnavailable as exc:
            log.warning("webhook relay: %s", type(exc).__name__)
            stop.wait(1.0)
        except Exception as exc:  # a bug: say which, keep relaying
            log.error("webhook relay: unexpected %s", type(exc).__name__)
            stop.wait(1.0)


def deliver(
    rt: Runtime,
    site: str,
    message_id: str,
    body: str,
    *,
    transport: Transport,
    timeout: Timeout = DELIVERY_TIMEOUT,
) -> bool:
    """POST one signed event to the site's webhook URL. True when it answered 2xx, False when
    there is nothing to deliver to (key revoked, webhook removed). Raises ``WebhookRefused``
    or a ``NetworkError``/``ProtocolError`` for another try, ``StoreUnavailable`` too."""
    key = rt.store.api_key(site)
    if key is None or not key.webhook_url or not key.webhook_secret:
        return False
    if url_problem(key.webhook_url, allow_http=False):
        log.warning("webhook for %s dropped: its URL is not usable", site)
        return False
    now = datetime.now(UTC)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "targetsms-worker webhooks",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(key.webhook_secret).sign(message_id, now, body),
    }
    answer = transport.post(key.webhook_url, body.encode(), headers, timeout, MAX_ANSWER_BYTES)
    if not 200 <= answer.status < 300:
        raise WebhookRefused(answer.status)
    return True
