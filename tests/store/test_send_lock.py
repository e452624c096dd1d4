"""The send lock and the claim in the Lua steps: only the latest claimant of a send may store."""

from __future__ import annotations

import redis
from helpers import FakeClock
from store_tier import Steps

from worker.store import ClaimOutcome, Store, Stored

TTL = 60_000


def _stored(steps: Steps, vid: str, token: str) -> Stored:
    return steps.store_sent(vid, token, code_digest="d" * 64, id_sms="1", first_poll_ms=0)


def test_a_send_taken_over_by_another_worker_writes_nothing(
    store: Store, steps: Steps, raw: redis.Redis
) -> None:
    vid = steps.queued()
    first = store.claim_send(vid, "token-a", TTL)
    assert first.outcome is ClaimOutcome.CLAIMED and not first.resumed
    # Worker A stalls past its lock; worker B takes over the same record.
    raw.delete(store.keys.lock(vid))
    second = store.claim_send(vid, "token-b", TTL)
    assert second.outcome is ClaimOutcome.CLAIMED and second.resumed  # B knows it resumes

    assert store.extend_lock(vid, "token-a", TTL) is False
    assert _stored(steps, vid, "token-a") == Stored(False, "sending")
    assert store.store_failed(vid, "token-a", error_code="timeout", message="x").stored is False
    record, _ = store.load(vid)
    assert record["state"] == "sending" and "code_hmac" not in record
    assert raw.get(store.keys.lock(vid)) == "token-b"  # A did not release B's lock

    assert _stored(steps, vid, "token-b").stored
    # Once B stored and let go, A's late answer still cannot overwrite B's code.
    assert _stored(steps, vid, "token-a") == Stored(False, "sent")
    record, _ = store.load(vid)
    assert record["state"] == "sent" and record["code_hmac"] == "d" * 64


def test_a_lapsed_lock_nobody_took_is_taken_again_and_the_send_stores(
    store: Store, steps: Steps, raw: redis.Redis
) -> None:
    """A stall (or a Redis blink) past the lock's TTL, with no other worker claiming: the
    send is still the latest, so it keeps the send and its result is stored, not lost."""
    vid = steps.queued()
    assert store.claim_send(vid, "token-a", TTL).outcome is ClaimOutcome.CLAIMED
    raw.delete(store.keys.lock(vid))
    assert store.extend_lock(vid, "token-a", TTL) is True
    assert raw.get(store.keys.lock(vid)) == "token-a"
    raw.delete(store.keys.lock(vid))
    assert _stored(steps, vid, "token-a").stored
    assert store.claim_send(vid, "token-c", TTL).outcome is ClaimOutcome.DONE


def test_the_record_keeps_when_the_last_attempt_that_may_have_been_accepted_started(
    store: Store, steps: Steps, raw: redis.Redis, clock: FakeClock
) -> None:
    """A resumed send waits out the gateway's duplicate window from its predecessor's call,
    noted before that call, not from its own claim (the issue's 8 failures of 300)."""
    vid = steps.queued()  # the 70 s below stay within its send window (SEND_WINDOW_MS)
    clock.advance(2)  # worker A claims: its first attempt starts now
    assert store.claim_send(vid, "token-a", TTL).since_attempt_ms is None  # a fresh send
    clock.advance(33)  # A is SIGKILLed mid-call; its lock lapses; B resumes
    raw.delete(store.keys.lock(vid))
    b = store.claim_send(vid, "token-b", TTL)
    assert b.resumed and b.since_attempt_ms == 33_000
    # B's own first attempt is refused as a duplicate; waiting, it notes A's start again.
    clock.advance(1)
    assert store.extend_lock(vid, "token-b", TTL, attempt_ago_ms=34_000)
    clock.advance(10)  # B dies while waiting; C resumes and still counts from A's call
    raw.delete(store.keys.lock(vid))
    c = store.claim_send(vid, "token-c", TTL)
    assert c.resumed and c.since_attempt_ms == 44_000
    # Before each further attempt the note moves to that attempt's start.
    clock.advance(20)
    assert store.extend_lock(vid, "token-c", TTL, attempt_ago_ms=0)
    clock.advance(3)
    assert store.extend_lock(vid, "token-c", TTL)  # a plain extension leaves the note alone
    raw.delete(store.keys.lock(vid))
    assert store.claim_send(vid, "token-d", TTL).since_attempt_ms == 3_000
    # A taken-over claimant notes nothing.
    assert store.extend_lock(vid, "token-c", TTL, attempt_ago_ms=0) is False
    raw.delete(store.keys.lock(vid))
    clock.advance(1)
    assert store.claim_send(vid, "token-e", TTL).since_attempt_ms == 1_000
