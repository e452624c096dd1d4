"""``Store.apply_pushed`` and push_apply.lua on a real Redis: records written by the Store's own
steps (create, claim, store_sent), then statuses pushed by id_sms."""

from __future__ import annotations

import itertools

import pytest
import redis
from helpers import refused_port
from store_tier import Steps, gate

from worker.store import Store, StoreUnavailable, connect

PHONE = "+79001234567"
_ids = itertools.count(5001)


@pytest.fixture
def tier(store: Store, steps: Steps, raw: redis.Redis) -> Tier:
    return Tier(store, steps, raw)


class Tier:
    """The store, its steps and Redis as stored, under the names these tests read."""

    def __init__(self, store: Store, steps: Steps, raw: redis.Redis) -> None:
        self.store, self.steps, self.raw = store, steps, raw


def sent(tier: Tier, phone: str = PHONE) -> tuple[str, str]:
    # A long first poll: nothing but the pushes below changes a status.
    id_sms = str(next(_ids))
    return tier.steps.sent(gate(phone), id_sms=id_sms, first_poll_ms=600_000), id_sms


def delivery_status(tier: Tier, verification_id: str) -> str | None:
    return tier.steps.record(verification_id).get("delivery_status")


def history(tier: Tier, verification_id: str) -> list[dict[str, object]]:
    return tier.store.load(verification_id)[1]


def events(tier: Tier, verification_id: str) -> list[str]:
    return tier.steps.events(verification_id)


def polled(tier: Tier, verification_id: str) -> bool:
    return tier.raw.zscore(tier.store.keys.poll, verification_id) is not None


def test_final_status_is_applied_once_and_stops_polling(tier: Tier) -> None:
    vid, id_sms = sent(tier)
    assert polled(tier, vid)
    assert tier.store.apply_pushed([(id_sms, "deliver")]) == [id_sms]
    assert delivery_status(tier, vid) == "deliver"
    assert not polled(tier, vid)
    # The platform retries a push it thinks was lost: accepted again, nothing changes.
    assert tier.store.apply_pushed([(id_sms, "deliver"), (id_sms, "deliver")]) == [id_sms]
    assert events(tier, vid).count("status") == 1


def test_pending_status_is_kept_and_polling_goes_on(tier: Tier) -> None:
    vid, id_sms = sent(tier)
    before = tier.raw.zscore(tier.store.keys.poll, vid)
    assert tier.store.apply_pushed([(id_sms, "send")]) == [id_sms]  # unchanged: no event
    assert tier.store.apply_pushed([(id_sms, "read")]) == [id_sms]  # unknown: other, pending
    assert delivery_status(tier, vid) == "other" and events(tier, vid).count("status") == 1
    assert history(tier, vid)[-1]["raw"] == "read"  # the gateway's word, in the history only
    assert tier.raw.zscore(tier.store.keys.poll, vid) == before


def test_a_late_pending_push_never_replaces_a_final_status(tier: Tier) -> None:
    vid, id_sms = sent(tier)
    tier.store.apply_pushed([(id_sms, "not_deliver")])
    tier.store.apply_pushed([(id_sms, "send")])
    assert delivery_status(tier, vid) == "not_deliver"
    assert not polled(tier, vid)


def delivery_fields(tier: Tier) -> dict[str, int]:
    totals = tier.raw.hgetall(tier.store.keys.totals)
    return {k: int(v) for k, v in totals.items() if k.startswith("delivery:")}


def test_forged_statuses_make_no_new_fields_and_count_once(tier: Tier) -> None:
    vid, id_sms = sent(tier)
    before = delivery_fields(tier)
    forged = [(id_sms, f"made_up_{n}") for n in range(2003)] + [(id_sms, "x" * 5000 + "\x1b")]
    assert len(tier.store.apply_pushed(forged)) == 1
    after = delivery_fields(tier)
    assert set(after) - set(before) == {"delivery:other"}
    assert after["delivery:other"] == 1  # one record moved to `other` once
    hist = history(tier, vid)
    assert all(len(str(h.get("raw", ""))) <= 32 for h in hist)
    assert hist[-1]["delivery_status"] == "other"


def test_a_final_status_is_final_and_counts_once(tier: Tier) -> None:
    vid, id_sms = sent(tier)
    before = delivery_fields(tier)
    flips = [(id_sms, "deliver" if n % 2 == 0 else "not_deliver") for n in range(100)]
    tier.store.apply_pushed(flips)
    tier.store.apply_pushed([(id_sms, "send"), (id_sms, "read"), (id_sms, "deliver")])
    after = delivery_fields(tier)
    assert after["delivery:deliver"] - before.get("delivery:deliver", 0) == 1
    assert after.get("delivery:not_deliver", 0) == before.get("delivery:not_deliver", 0)
    assert after.get("delivery:other", 0) == before.get("delivery:other", 0)
    assert delivery_status(tier, vid) == "deliver"
    late = [h for h in history(tier, vid) if h["event"] == "late_status"]
    assert late and {h["delivery_status"] for h in late} == {"not_deliver"}
    assert events(tier, vid).count("status") == 1


def test_flapping_pending_statuses_count_each_once(tier: Tier) -> None:
    _, id_sms = sent(tier)
    before = delivery_fields(tier)
    tier.store.apply_pushed([(id_sms, "read" if n % 2 else "send") for n in range(40)])
    after = delivery_fields(tier)
    assert after.get("delivery:other", 0) - before.get("delivery:other", 0) == 1
    assert after["delivery:send"] == before["delivery:send"]  # store_sent counted it already


def test_unknown_ids_are_accepted_and_ignored(tier: Tier) -> None:
    vid, id_sms = sent(tier)
    keys_before = set(tier.raw.scan_iter(match=tier.store.keys.prefix + "*"))
    accepted = tier.store.apply_pushed([("999", "deliver"), (id_sms, "deliver"), ("998", "send")])
    assert accepted == ["999", id_sms, "998"]
    assert set(tier.raw.scan_iter(match=tier.store.keys.prefix + "*")) <= keys_before
    assert delivery_status(tier, vid) == "deliver"


def test_a_stale_id_after_resend_is_ignored(tier: Tier) -> None:
    vid, old = sent(tier)
    tier.steps.resend(vid)
    assert tier.store.apply_pushed([(old, "deliver")]) == [old]
    assert delivery_status(tier, vid) is None
    new = str(next(_ids))
    tier.steps.claimed(vid, token="token-2")
    assert tier.steps.store_sent(vid, "token-2", id_sms=new, first_poll_ms=600_000).stored
    tier.store.apply_pushed([(old, "not_deliver")])
    assert delivery_status(tier, vid) == "send"
    assert polled(tier, vid)
    tier.store.apply_pushed([(new, "deliver")])
    assert delivery_status(tier, vid) == "deliver"
    assert not polled(tier, vid)


def test_a_canceled_verification_ignores_pushes(tier: Tier) -> None:
    vid, id_sms = sent(tier)
    tier.store.cancel(vid)
    assert tier.store.apply_pushed([(id_sms, "deliver")]) == [id_sms]
    assert delivery_status(tier, vid) == "send"


def test_the_index_expires_with_the_record(tier: Tier) -> None:
    vid, id_sms = sent(tier)
    key = tier.store.keys.sms(id_sms)
    assert tier.raw.get(key) == vid
    ttl = tier.raw.pttl(key)
    assert ttl >= tier.raw.pttl(tier.store.keys.record(vid)) - 1000 and ttl > 0


def test_many_states_in_one_push_span_chunks(tier: Tier) -> None:
    sends = [sent(tier, f"+7900777{n:04d}") for n in range(3)]
    unknown = [(str(10**9 + n), "deliver") for n in range(1200)]
    states = unknown[:600] + [(id_sms, "deliver") for _, id_sms in sends] + unknown[600:]
    assert len(tier.store.apply_pushed(states)) == 1203
    assert all(delivery_status(tier, v) == "deliver" for v, _ in sends)


def test_redis_away_raises_so_nothing_is_acknowledged() -> None:
    dead = Store(connect(f"redis://127.0.0.1:{refused_port()}/0"), "t:")
    with pytest.raises(StoreUnavailable):
        dead.apply_pushed([("1", "deliver")])


def test_a_polled_status_passes_the_same_validation(tier: Tier) -> None:
    """A `state` answer's text (up to 64 KiB, any characters) is no more trusted than a push."""
    vid, id_sms = sent(tier)
    before = delivery_fields(tier)
    huge = "\x1b[31m" + "y" * 65536
    args = {"max_age_ms": 600_000, "first_delay_ms": 1000, "max_delay_ms": 60_000}
    tier.store.poll_apply([(vid, id_sms, huge)], **args)
    tier.store.poll_apply([(vid, id_sms, "deliver")], **args)
    tier.store.poll_apply([(vid, id_sms, "expired")], **args)
    after = delivery_fields(tier)
    assert set(after) - set(before) <= {"delivery:other", "delivery:deliver"}
    assert after["delivery:other"] - before.get("delivery:other", 0) == 1
    assert after.get("delivery:expired", 0) == before.get("delivery:expired", 0)
    assert delivery_status(tier, vid) == "deliver"
    raws = {h.get("raw") for h in history(tier, vid) if h.get("raw")}
    assert raws == {"??31m" + "y" * 27}  # 32 characters, control and markup replaced
