"""The send lock and the claim in the Lua steps: only the latest claimant of a send may store."""

from __future__ import annotations

from helpers import FakeClock, Sandbox, make_settings, raw_redis, runtime_with_clock

from worker import request_code
from worker.runtime import Runtime
from worker.store import ClaimOutcome, Stored

TTL = 60_000


def _stored(rt: Runtime, vid: str, token: str) -> Stored:
    return rt.store.store_sent(
        vid, token, code_digest="d" * 64, id_sms="1", status="send", ttl_ms=TTL,
        first_poll_ms=0, max_attempts=5, poll_ttl_ms=TTL, poll_slack_ms=1000,
        poll_grace_ms=1000, poll_batch=10,
    )  # fmt: skip


def test_a_send_taken_over_by_another_worker_writes_nothing(
    redis_url: str, sandbox: Sandbox, process_runtime: None
) -> None:
    rt = Runtime.from_settings(make_settings(redis_url, sandbox))
    vid = request_code("+79001234567", runtime=rt).id
    store = rt.store
    first = store.claim_send(vid, "token-a", TTL)
    assert first.outcome is ClaimOutcome.CLAIMED and not first.resumed
    # Worker A stalls past its lock; worker B takes over the same record.
    raw_redis(rt).delete(store.keys.lock(vid))
    second = store.claim_send(vid, "token-b", TTL)
    assert second.outcome is ClaimOutcome.CLAIMED and second.resumed  # B knows it resumes

    assert store.extend_lock(vid, "token-a", TTL) is False
    assert _stored(rt, vid, "token-a") == Stored(False, "sending")
    assert store.store_failed(vid, "token-a", error_code="timeout", message="x").stored is False
    record, _ = store.load(vid)
    assert record["state"] == "sending" and "code_hmac" not in record
    assert raw_redis(rt).get(store.keys.lock(vid)) == "token-b"  # A did not release B's lock

    assert _stored(rt, vid, "token-b").stored
    # Once B stored and let go, A's late answer still cannot overwrite B's code.
    assert _stored(rt, vid, "token-a") == Stored(False, "sent")
    record, _ = store.load(vid)
    assert record["state"] == "sent" and record["code_hmac"] == "d" * 64
    rt.close()


def test_a_lapsed_lock_nobody_took_is_taken_again_and_the_send_stores(
    redis_url: str, sandbox: Sandbox, process_runtime: None
) -> None:
    """A stall (or a Redis blink) past the lock's TTL, with no other worker claiming: the
    send is still the latest, so it keeps the send and its result is stored, not lost."""
    rt = Runtime.from_settings(make_settings(redis_url, sandbox))
    vid = request_code("+79001234567", runtime=rt).id
    store = rt.store
    assert store.claim_send(vid, "token-a", TTL).outcome is ClaimOutcome.CLAIMED
    raw_redis(rt).delete(store.keys.lock(vid))
    assert store.extend_lock(vid, "token-a", TTL) is True
    assert raw_redis(rt).get(store.keys.lock(vid)) == "token-a"
    raw_redis(rt).delete(store.keys.lock(vid))
    assert _stored(rt, vid, "token-a").stored
    assert store.claim_send(vid, "token-c", TTL).outcome is ClaimOutcome.DONE
    rt.close()


def test_the_record_keeps_when_the_last_attempt_that_may_have_been_accepted_started(
    redis_url: str, sandbox: Sandbox, process_runtime: None
) -> None:
    """A resumed send waits out the gateway's duplicate window from its predecessor's call,
    noted before that call, not from its own claim (the issue's 8 failures of 300)."""
    clock = FakeClock()
    settings = make_settings(redis_url, sandbox, OTP_SEND_DEADLINE_SECONDS=90)
    rt = runtime_with_clock(settings, clock)
    vid = request_code("+79001234567", runtime=rt).id
    store = rt.store
    clock.advance(2)  # worker A claims: its first attempt starts now
    assert store.claim_send(vid, "token-a", TTL).since_attempt_ms is None  # a fresh send
    clock.advance(33)  # A is SIGKILLed mid-call; its lock lapses; B resumes
    raw_redis(rt).delete(store.keys.lock(vid))
    b = store.claim_send(vid, "token-b", TTL)
    assert b.resumed and b.since_attempt_ms == 33_000
    # B's own first attempt is refused as a duplicate; waiting, it notes A's start again.
    clock.advance(1)
    assert store.extend_lock(vid, "token-b", TTL, attempt_ago_ms=34_000)
    clock.advance(10)  # B dies while waiting; C resumes and still counts from A's call
    raw_redis(rt).delete(store.keys.lock(vid))
    c = store.claim_send(vid, "token-c", TTL)
    assert c.resumed and c.since_attempt_ms == 44_000
    # Before each further attempt the note moves to that attempt's start.
    clock.advance(20)
    assert store.extend_lock(vid, "token-c", TTL, attempt_ago_ms=0)
    clock.advance(3)
    assert store.extend_lock(vid, "token-c", TTL)  # a plain extension leaves the note alone
    raw_redis(rt).delete(store.keys.lock(vid))
    assert store.claim_send(vid, "token-d", TTL).since_attempt_ms == 3_000
    # A taken-over claimant notes nothing.
    assert store.extend_lock(vid, "token-c", TTL, attempt_ago_ms=0) is False
    raw_redis(rt).delete(store.keys.lock(vid))
    clock.advance(1)
    assert store.claim_send(vid, "token-e", TTL).since_attempt_ms == 1_000
    rt.close()
