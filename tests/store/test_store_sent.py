"""store_sent.lua through ``Store.store_sent``: the code's digest, its TTL, the id_sms index,
the first poll and the counters (the claimant guard: test_send_lock.py)."""

from __future__ import annotations

import redis
from helpers import FakeClock
from store_tier import CODE_DIGEST, CODE_TTL_MS, MAX_ATTEMPTS, POLL, TOKEN, Steps

from worker.store import GatewayTimings, PollTask, Store, Stored


def test_a_sent_code_is_stored_with_its_ttl_and_first_poll(
    store: Store, steps: Steps, raw: redis.Redis, clock: FakeClock
) -> None:
    vid = steps.claimed()
    clock.advance(1)
    stored = steps.store_sent(vid, id_sms="1001", first_poll_ms=10_000)
    now_ms = int(clock() * 1000)
    assert stored == Stored(True, "sent", PollTask(str(now_ms + 10_000), 10.0))
    record = steps.record(vid)
    assert {k: record[k] for k in ("state", "code_hmac", "id_sms", "delivery_status")} == {
        "state": "sent", "code_hmac": CODE_DIGEST, "id_sms": "1001", "delivery_status": "send",
    }  # fmt: skip
    assert record["sent_at"] == str(now_ms)
    assert record["expires_at"] == str(now_ms + CODE_TTL_MS)
    assert record["attempts_left"] == str(MAX_ATTEMPTS) and record["polls"] == "0"
    assert "claim" not in record and not raw.exists(store.keys.lock(vid))
    # Pushes name only the id_sms: the index lives as long as the record or the poll set.
    assert raw.get(store.keys.sms("1001")) == vid
    assert raw.pttl(store.keys.sms("1001")) > 0
    assert raw.zscore(store.keys.poll, vid) == now_ms + 10_000
    assert 0 < raw.pttl(store.keys.poll) <= POLL["poll_ttl_ms"]
    assert raw.get(store.keys.poll_marker) == str(now_ms + 10_000)
    counted = raw.hgetall(store.keys.totals)
    assert counted["sms_sent"] == "1" and counted["delivery:send"] == "1"
    assert steps.events(vid)[-1] == "sent"


def test_one_poll_task_serves_sends_of_the_same_moment(store: Store, steps: Steps) -> None:
    first, second = steps.claimed(), steps.claimed(steps.queued(), token="token-b")
    assert steps.store_sent(first).poll is not None
    assert steps.store_sent(second, "token-b", id_sms="1002").poll is None  # already queued


def test_nothing_to_poll_queues_no_task(store: Store, steps: Steps, raw: redis.Redis) -> None:
    vid = steps.claimed()
    assert steps.store_sent(vid, first_poll_ms=0) == Stored(True, "sent", None)
    assert raw.zscore(store.keys.poll, vid) is None


def test_the_sends_gateway_timings_are_counted(
    store: Store, steps: Steps, raw: redis.Redis
) -> None:
    vid = steps.claimed()
    timings = GatewayTimings()
    timings.add("send", 0.2)
    timings.add("send", 40.0)
    steps.store_sent(vid, TOKEN, timings=timings)
    counted = raw.hgetall(store.keys.totals)
    assert counted["gw:send:count"] == "2"
    assert float(counted["gw:send:sum"]) == 40.2
    assert counted["gw:send:le:0.25"] == "1" and counted["gw:send:le:+Inf"] == "1"
    assert timings.items == []  # taken by the step
