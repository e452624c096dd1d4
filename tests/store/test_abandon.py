"""abandon.lua through ``Store.abandon``: a publish that failed gives back what its SMS
counted, so the caller may try again as if nothing happened."""

from __future__ import annotations

import redis
from store_tier import Steps, gate

from worker.store import ResendOutcome, Store


def test_a_first_request_leaves_no_trace(store: Store, steps: Steps, raw: redis.Redis) -> None:
    g = gate()
    vid = steps.create(g, idempotency="d1").id
    store.abandon(g, verification_id=vid, sends=1, idempotency_digest="d1")
    k = store.keys
    for key in (k.record(vid), k.history(vid), k.idempotency("d1")):
        assert not raw.exists(key)
    assert raw.zcard(k.limit_log("phone_hour", g.phone_key)) == 0
    assert raw.zcard(k.pumping(g.prefix_key, "s")) == 0
    assert raw.hgetall(store.stats_key()) == {"sent": "0", "sent:RU": "0"}
    assert raw.hget(k.totals, "sms_requested") == "0"
    assert steps.create(g, idempotency="d1").existing is False  # the key was given back


def test_an_idempotency_key_of_another_verification_stays(
    store: Store, steps: Steps, raw: redis.Redis
) -> None:
    first = steps.create(idempotency="d1").id
    store.abandon(gate(), verification_id="other", sends=1, idempotency_digest="d1")
    assert raw.get(store.keys.idempotency("d1")) == first


def test_a_resend_ends_failed_and_may_be_resent(
    store: Store, steps: Steps, raw: redis.Redis
) -> None:
    g = gate()
    vid = steps.sent()
    before = raw.hget(store.keys.totals, "sms_requested")
    assert steps.resend(vid) == (ResendOutcome.RESENT, "")
    store.abandon(g, verification_id=vid, sends=2)
    record = steps.record(vid)
    assert record["state"] == "failed" and record["sends"] == "1"
    assert record["error_code"] == "unavailable"
    assert steps.events(vid)[-1] == "failed"
    assert raw.hget(store.keys.totals, "sms_requested") == before
    assert raw.zscore(store.keys.limit_log("phone_hour", g.phone_key), f"{vid}:2") is None
    assert steps.resend(vid) == (ResendOutcome.RESENT, "")  # once the broker is back
