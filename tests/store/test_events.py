"""The events feed: what the Lua steps publish (``record_event``), as a subscriber reads it."""

from __future__ import annotations

from helpers import wait_until
from store_tier import Steps, gate

from worker.core.api_keys import ApiKey
from worker.store import Store


def test_a_subscriber_sees_each_state_change_with_its_id(store: Store, steps: Steps) -> None:
    feed = store.subscribe_events()
    try:
        vid = steps.queued()
        store.cancel(vid)
        seen: list[dict[str, object]] = []

        def collected() -> bool:
            event = feed.next(timeout=0.5)
            if event is not None:
                seen.append(event)
            return len(seen) >= 2

        wait_until(collected, 10, "two events")
    finally:
        feed.close()
    assert [(e["id"], e["event"], e["state"]) for e in seen] == [
        (vid, "queued", "queued"),
        (vid, "canceled", "canceled"),
    ]
    history = store.load(vid)[1]
    assert [e["at"] for e in seen] == [h["at"] for h in history]


def _key(name: str, webhook_url: str | None) -> ApiKey:
    return ApiKey(
        name=name, digest=name * 16, per_hour=0, per_day=0, created_at=0,
        webhook_url=webhook_url, webhook_secret="whsec_x" if webhook_url else None,
    )  # fmt: skip


def test_the_webhook_stream_keeps_only_what_a_webhook_carries(store: Store, steps: Steps) -> None:
    """Of a key with a webhook: sent, a final delivery status, canceled; not queued, sending or
    a pending status. Nothing of a key without a webhook, nor of a verification made in Python.
    On a cluster too (the stream and the key's hash are in the store's slot)."""
    assert store.create_api_key(_key("shop", "https://shop.example/hook"))
    assert store.create_api_key(_key("quiet", None))
    shop = steps.sent(gate("+79001230001"), id_sms="2001", site="shop")
    quiet = steps.sent(gate("+79001230002"), id_sms="2002", site="quiet")
    plain = steps.sent(gate("+79001230003"), id_sms="2003")
    store.apply_pushed([("2001", "send"), ("2002", "send"), ("2003", "send")])
    store.apply_pushed([("2001", "deliver"), ("2002", "deliver"), ("2003", "deliver")])
    for vid in (shop, quiet, plain):
        store.cancel(vid)
    assert steps.events(quiet) == steps.events(shop)  # the same history either way

    kept = store.read_webhook_events("t", count=100, block_ms=10, idle_ms=60_000)
    assert [(e.site, e.event["id"], e.event["event"], e.event.get("delivery_status"))
            for e in kept] == [
        ("shop", shop, "sent", "send"),
        ("shop", shop, "status", "deliver"),
        ("shop", shop, "canceled", None),
    ]  # fmt: skip
    store.ack_webhook_events([e.entry_id for e in kept])
    assert store.read_webhook_events("t", count=100, block_ms=10, idle_ms=0) == []
