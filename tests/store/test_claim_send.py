"""claim_send.lua through ``Store.claim_send``: queued -> sending under the send lock."""

from __future__ import annotations

import redis
from helpers import FakeClock
from store_tier import LOCK_TTL_MS, PHONE, SEND_WINDOW_MS, Steps

from worker.store import Claim, ClaimOutcome, Store


def test_a_queued_send_is_claimed_under_its_lock(
    store: Store, steps: Steps, raw: redis.Redis, clock: FakeClock
) -> None:
    vid = steps.queued()
    clock.advance(2)
    claim = store.claim_send(vid, "token-a", LOCK_TTL_MS)
    assert claim == Claim(
        ClaimOutcome.CLAIMED, phone=PHONE, region="RU", left_ms=SEND_WINDOW_MS - 2000
    )
    record = steps.record(vid)
    assert record["state"] == "sending" and record["claim"] == "token-a"
    assert record["attempt_at"] == str(int(clock() * 1000))
    assert raw.get(store.keys.lock(vid)) == "token-a"
    assert 0 < raw.pttl(store.keys.lock(vid)) <= LOCK_TTL_MS
    assert steps.events(vid) == ["queued", "sending"]


def test_a_held_lock_is_busy_for_as_long_as_it_lasts(store: Store, steps: Steps) -> None:
    vid = steps.claimed()
    busy = store.claim_send(vid, "token-b", LOCK_TTL_MS)
    assert busy.outcome is ClaimOutcome.BUSY and 0 < busy.lock_ms <= LOCK_TTL_MS
    assert steps.record(vid)["claim"] == "token-a"


def test_nothing_to_send_once_the_record_moved_on(store: Store, steps: Steps) -> None:
    vid = steps.sent()
    assert store.claim_send(vid, "token-b", LOCK_TTL_MS) == Claim(ClaimOutcome.DONE, state="sent")
    assert store.claim_send("no-such-id", "token-b", LOCK_TTL_MS) == Claim(ClaimOutcome.MISSING)


def test_a_send_past_its_deadline_fails_instead(
    store: Store, steps: Steps, raw: redis.Redis, clock: FakeClock
) -> None:
    vid = steps.queued()
    clock.advance(SEND_WINDOW_MS / 1000)
    assert store.claim_send(vid, "token-a", LOCK_TTL_MS) == Claim(ClaimOutcome.DEADLINE)
    record = steps.record(vid)
    assert record["state"] == "failed" and record["error_code"] == "deadline_exceeded"
    assert "claim" not in record and not raw.exists(store.keys.lock(vid))
    assert raw.hget(store.keys.totals, "sms_failed:deadline_exceeded") == "1"
    assert steps.events(vid)[-1] == "failed"
