"""Counters: refusals, the statistics buckets, gateway latencies and the cached balance."""

from __future__ import annotations

import redis
from helpers import FakeClock

from worker.store import GATEWAY_ENDPOINTS, STATS_BUCKET_SECONDS, Store


def test_a_refusal_counts_in_the_bucket_and_the_totals(store: Store, raw: redis.Redis) -> None:
    store.count_refusal("rate_limited")
    store.count_refusal("rate_limited")
    assert store.totals()["refused:rate_limited"] == "2"
    assert raw.hget(store.stats_key(), "refused:rate_limited") == "2"
    assert raw.pttl(store.stats_key()) > 24 * 3600 * 1000  # kept a day (and an hour)


def test_stats_buckets_are_read_newest_first(store: Store, clock: FakeClock) -> None:
    store.count_refusal("old")
    clock.advance(STATS_BUCKET_SECONDS)
    store.count_refusal("new")
    newest, older, empty = store.stats_buckets(3)
    assert newest == {"refused:new": "1"} and older == {"refused:old": "1"} and empty == {}


def test_a_gateway_request_outside_a_step_is_written_at_once(store: Store) -> None:
    store.observe_gateway("balance", 0.3)
    assert {k: v for k, v in store.totals().items() if k.startswith("gw:")} == {
        "gw:balance:count": "1", "gw:balance:sum": "0.3", "gw:balance:le:0.5": "1",
    }  # fmt: skip


def test_timings_no_step_took_are_written_when_the_block_ends(store: Store) -> None:
    with store.gateway_timings():
        store.observe_gateway("send", 100.0)
        assert "gw:send:count" not in store.totals()  # kept for the step
    assert store.totals()["gw:send:le:+Inf"] == "1"


def test_only_exported_endpoints_are_counted(store: Store) -> None:
    """The exporter serves send, state and balance: nothing else is written to be ignored."""
    store.observe_gateway("push_setup", 0.1)
    with store.gateway_timings():
        store.observe_gateway("push_setup", 0.1)
    assert not any(k.startswith("gw:") for k in store.totals())
    assert set(GATEWAY_ENDPOINTS) == {"send", "state", "balance"}


def test_one_caller_per_interval_refreshes_the_balance(store: Store, raw: redis.Redis) -> None:
    assert store.balance_refresh_due(60_000) is True
    assert store.balance_refresh_due(60_000) is False
    store.cache_balance({"balance": "12.5", "at": "1"})
    assert store.cached_balance() == {"balance": "12.5", "at": "1"}
    assert 0 < raw.pttl(store.keys.balance) <= 3_600_000
