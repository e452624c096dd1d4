"""The poller's steps: poll_lease.lua, poll_apply.lua and poll_schedule.lua (the statuses'
own rules, shared with pushes: test_push_apply.py)."""

from __future__ import annotations

import redis
from helpers import FakeClock
from store_tier import Steps

from worker.store import PollTask, Store

FIRST_POLL_MS = 10_000
APPLY = {"max_age_ms": 600_000, "first_delay_ms": 1_000, "max_delay_ms": 60_000}


def test_only_due_ids_are_leased_and_a_lease_hides_them(
    store: Store, steps: Steps, raw: redis.Redis, clock: FakeClock
) -> None:
    vid = steps.sent(id_sms="1001", first_poll_ms=FIRST_POLL_MS)
    assert store.poll_lease(10, 30_000) == []  # not due yet
    clock.advance(FIRST_POLL_MS / 1000)
    assert store.poll_lease(10, 30_000) == [(vid, "1001")]
    assert raw.zscore(store.keys.poll, vid) == int(clock() * 1000) + 30_000
    assert store.poll_lease(10, 30_000) == []  # a parallel poller does not ask again


def test_a_record_gone_since_it_was_due_leaves_the_poll_set(
    store: Store, steps: Steps, raw: redis.Redis, clock: FakeClock
) -> None:
    vid = steps.sent(first_poll_ms=FIRST_POLL_MS)
    raw.delete(store.keys.record(vid))  # expired
    clock.advance(FIRST_POLL_MS / 1000)
    assert store.poll_lease(10, 30_000) == []
    assert raw.zscore(store.keys.poll, vid) is None


def test_a_pending_status_backs_off_and_a_final_one_stops(
    store: Store, steps: Steps, raw: redis.Redis, clock: FakeClock
) -> None:
    vid = steps.sent(id_sms="1001")
    now_ms = int(clock() * 1000)
    assert store.poll_apply([(vid, "1001", "send")], **APPLY) == (0, 0)
    assert raw.zscore(store.keys.poll, vid) == now_ms + 2_000  # first_delay * 2^polls
    assert store.poll_apply([(vid, "1001", "send")], **APPLY) == (0, 0)
    assert raw.zscore(store.keys.poll, vid) == now_ms + 4_000
    assert steps.record(vid)["polls"] == "2"
    assert store.poll_apply([(vid, "1001", "deliver")], **APPLY) == (1, 1)
    assert raw.zscore(store.keys.poll, vid) is None
    assert steps.record(vid)["delivery_status"] == "deliver"
    assert raw.hget(store.keys.totals, "delivery:deliver") == "1"


def test_polling_gives_up_after_max_age(
    store: Store, steps: Steps, raw: redis.Redis, clock: FakeClock
) -> None:
    vid = steps.sent(id_sms="1001")
    clock.advance(APPLY["max_age_ms"] / 1000)
    assert store.poll_apply([(vid, "1001", "")], **APPLY) == (0, 1)
    assert raw.zscore(store.keys.poll, vid) is None
    assert steps.events(vid)[-1] == "poll_gave_up"


def test_a_result_for_a_resent_record_only_stops_its_poll(
    store: Store, steps: Steps, raw: redis.Redis
) -> None:
    vid = steps.sent(id_sms="1001")
    assert store.poll_apply([(vid, "999", "deliver")], **APPLY) == (0, 1)
    assert steps.record(vid)["delivery_status"] == "send"


def test_the_gateway_timings_of_a_poll_are_counted(
    store: Store, steps: Steps, raw: redis.Redis
) -> None:
    vid = steps.sent(id_sms="1001")
    with store.gateway_timings() as timings:
        store.observe_gateway("state", 0.03)
        store.poll_apply([(vid, "1001", "send")], **APPLY, timings=timings)
    assert raw.hget(store.keys.totals, "gw:state:le:0.05") == "1"
    assert raw.hget(store.keys.totals, "gw:state:count") == "1"  # once, by the step


def test_one_poll_task_is_queued_for_the_earliest_due_id(
    store: Store, steps: Steps, raw: redis.Redis, clock: FakeClock
) -> None:
    slack = {"slack_ms": 1_000, "grace_ms": 5_000, "batch": 10}
    assert store.poll_schedule(**slack) is None  # nothing to poll
    steps.sent(first_poll_ms=0)
    raw.zadd(store.keys.poll, {"v1": int(clock() * 1000) + 3_000})
    due = str(int(clock() * 1000) + 3_000)
    assert store.poll_schedule(**slack) == PollTask(due, 3.0)
    assert 0 < raw.pttl(store.keys.poll_marker) <= 3_000 + 5_000
    assert store.poll_schedule(**slack) is None  # already queued
    # The task that ran clears its own marker; right after a poll the slack is waited out.
    clock.advance(3)
    nxt = store.poll_schedule(**slack, clear=due)
    assert nxt == PollTask(str(int(clock() * 1000) + 1_000), 1.0)
