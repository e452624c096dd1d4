"""store_failed.lua through ``Store.store_failed``: the stable error code, the gateway's text,
the counters (the claimant guard: test_send_lock.py)."""

from __future__ import annotations

import redis
from store_tier import TOKEN, Steps

from worker.store import GatewayTimings, Store, Stored


def test_a_failed_send_keeps_its_error_and_drops_the_claim(
    store: Store, steps: Steps, raw: redis.Redis
) -> None:
    vid = steps.claimed()
    stored = store.store_failed(
        vid, TOKEN, error_code="rejected", message="number blocked", id_sms="77", status="error"
    )
    assert stored == Stored(True, "failed")
    record = steps.record(vid)
    assert {k: record.get(k) for k in ("state", "error_code", "error_message")} == {
        "state": "failed", "error_code": "rejected", "error_message": "number blocked",
    }  # fmt: skip
    assert record["id_sms"] == "77" and record["delivery_status"] == "error"
    assert "claim" not in record and "code_hmac" not in record
    assert not raw.exists(store.keys.lock(vid))
    counted = raw.hgetall(store.keys.totals)
    assert counted["sms_failed:rejected"] == "1" and counted["delivery:error"] == "1"
    assert store.load(vid)[1][-1] == {"at": int(record["updated_at"]), "event": "failed",
                                      "error": "rejected"}  # fmt: skip


def test_without_an_id_sms_nothing_of_the_message_is_recorded(
    store: Store, steps: Steps, raw: redis.Redis
) -> None:
    vid = steps.claimed()
    store.store_failed(vid, TOKEN, error_code="timeout", message="no answer")
    record = steps.record(vid)
    assert "id_sms" not in record and "delivery_status" not in record
    assert not any(k.startswith("delivery:") for k in raw.hgetall(store.keys.totals))


def test_timings_count_even_when_the_result_is_discarded(
    store: Store, steps: Steps, raw: redis.Redis
) -> None:
    timings = GatewayTimings()
    timings.add("send", 0.01)
    stored = store.store_failed("no-such-id", TOKEN, error_code="x", message="", timings=timings)
    assert stored == Stored(False, "missing")
    assert raw.hget(store.keys.totals, "gw:send:count") == "1"
