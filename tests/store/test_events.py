"""The events feed: what the Lua steps publish (``record_event``), as a subscriber reads it."""

from __future__ import annotations

from helpers import wait_until
from store_tier import Steps

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
