"""The poller's steps: poll_lease.lua, poll_apply.lua and poll_schedule.lua (the statuses'
own rules, shared with pushes: test_push_apply.py)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import redis
from helpers import FakeClock
from store_tier import Steps, gate

from worker.store import PollTask, Store
from worker.store.core import IDS_PER_STEP
from worker.store.scripts import registered

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


def many_sent(steps: Steps, n: int) -> list[str]:
    return [steps.sent(gate(f"+7900888{i:04d}"), id_sms=str(5000 + i)) for i in range(n)]


def test_a_poll_of_many_ids_is_leased_and_applied_whole_across_steps(
    store: Store, steps: Steps, raw: redis.Redis, clock: FakeClock
) -> None:
    n = 2 * IDS_PER_STEP + 3
    vids = many_sent(steps, n)
    clock.advance(FIRST_POLL_MS / 1000)
    leased = store.poll_lease(200, 30_000)
    assert sorted(leased) == sorted((v, str(5000 + i)) for i, v in enumerate(vids))
    assert store.poll_lease(200, 30_000) == []  # every step's lease holds
    results = [(v, s, "deliver" if i % 2 else "send") for i, (v, s) in enumerate(leased)]
    with store.gateway_timings() as timings:
        store.observe_gateway("state", 0.03)
        assert store.poll_apply(results, **APPLY, timings=timings) == (n // 2, n // 2)
    assert raw.hget(store.keys.totals, "gw:state:count") == "1"  # by the first step only
    assert raw.hget(store.keys.totals, "delivery:deliver") == str(n // 2)
    assert raw.zcard(store.keys.poll) == n - n // 2


@contextmanager
def every_command(client: redis.Redis) -> Iterator[Callable[[], list[list[str]]]]:
    """Each command Redis runs meanwhile, as its slow log keeps it (first 32 arguments)."""
    names = ("slowlog-log-slower-than", "slowlog-max-len")
    before = {name: client.config_get(name)[name] for name in names}
    client.config_set("slowlog-log-slower-than", 0)
    client.config_set("slowlog-max-len", 10_000)
    client.slowlog_reset()
    try:
        yield lambda: [
            [w.decode() if isinstance(w, bytes) else str(w) for w in e["command"].split()]
            for e in client.slowlog_get(10_000)
        ]
    finally:
        for name, value in before.items():
            client.config_set(name, value)


def test_no_poll_step_holds_redis_for_more_than_its_share_of_ids(redis_url: str) -> None:
    # One server only: its slow log sees every command (a cluster's is per node).
    clock = FakeClock()
    store = Store.from_url(redis_url, f"st-{secrets.token_hex(4)}:", clock=clock)
    client = redis.Redis.from_url(redis_url)
    try:
        steps = Steps(store)
        vids = many_sent(steps, 3 * IDS_PER_STEP)
        clock.advance(FIRST_POLL_MS / 1000)
        for script in registered(client).values():  # loaded: no NOSCRIPT retry to count
            client.script_load(script.script)
        with every_command(client) as commands:
            leased = store.poll_lease(200, 30_000)
            store.poll_apply([(v, s, "deliver") for v, s in leased], **APPLY)
            ran = commands()
        assert len(leased) == len(vids)
        # This store's steps only: their first key is its poll set.
        scripts = [c for c in ran if c[0].upper() == "EVALSHA" and c[3] == store.keys.poll]
        # 3 lease and 3 apply steps, each with at most IDS_PER_STEP records (2 keys per status)
        assert len(scripts) == 6
        assert all(int(c[2]) <= 2 + 2 * IDS_PER_STEP for c in scripts)
    finally:
        store.close()
        client.close()
