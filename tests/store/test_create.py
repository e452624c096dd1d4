"""create.lua through ``Store.create``: the record it writes, idempotency, and the SMS gate."""

from __future__ import annotations

import redis
from helpers import FakeClock
from store_tier import (
    MAX_ATTEMPTS,
    PENDING_GRACE_MS,
    PHONE,
    RECORD_TTL_MS,
    SEND_WINDOW_MS,
    Steps,
    gate,
)

from worker.core.gate import HOUR_MS, PumpingPolicy, SmsGate, StepUp
from worker.core.outcomes import RefusalCode
from worker.store import Created, Refusal, SmsSubject, Store


def create(
    store: Store, vid: str, sms_gate: SmsGate | None = None, idem: str | None = None
) -> Created | Refusal:
    return store.create(
        sms_gate or gate(),
        verification_id=vid,
        idempotency_digest=idem,
        idempotency_ttl_ms=60_000,
        record_ttl_ms=RECORD_TTL_MS,
        send_window_ms=SEND_WINDOW_MS,
        max_attempts=MAX_ATTEMPTS,
        pending_grace_ms=PENDING_GRACE_MS,
    )


def test_a_new_record_is_queued_with_its_deadline_and_ttl(
    store: Store, steps: Steps, raw: redis.Redis, clock: FakeClock
) -> None:
    assert create(store, "v1") == Created("v1", existing=False, pumping_flagged=False)
    now_ms = int(clock() * 1000)
    record = steps.record("v1")
    g = gate()
    assert record == {
        "state": "queued", "phone": PHONE, "region": "RU", "created_at": str(now_ms),
        "updated_at": str(now_ms), "requested_at": str(now_ms),
        "send_deadline": str(now_ms + SEND_WINDOW_MS), "attempts_left": str(MAX_ATTEMPTS),
        "sends": "1", "compares": "0", "phone_key": g.phone_key, "prefix_key": g.prefix_key,
        "requester": "ip-1", "send_seq": "1",  # the first send message published
    }  # fmt: skip
    assert 0 < raw.pttl(store.keys.record("v1")) <= RECORD_TTL_MS
    assert raw.pttl(store.keys.history("v1")) > 0
    assert steps.events("v1") == ["queued"]
    # Counted by the gate: every limit's log, the prefix's sends, statistics, totals.
    assert raw.zscore(store.keys.limit_log("phone_hour", g.phone_key), "v1:1") == now_ms
    assert raw.zscore(store.keys.pumping(g.prefix_key, "s"), "v1:1") == now_ms
    assert raw.hgetall(store.stats_key()) == {"sent": "1", "sent:RU": "1"}
    assert raw.hget(store.keys.totals, "sms_requested") == "1"


def test_an_idempotency_key_returns_the_earlier_verification(
    store: Store, raw: redis.Redis
) -> None:
    assert create(store, "v1", idem="d1") == Created("v1", existing=False)
    assert create(store, "v2", idem="d1") == Created("v1", existing=True)
    assert not raw.exists(store.keys.record("v2"))
    assert raw.hget(store.keys.totals, "sms_requested") == "1"  # the second SMS was not spent
    assert 0 < raw.pttl(store.keys.idempotency("d1")) <= 60_000
    assert create(store, "v3", idem="d2").existing is False


def test_a_denied_prefix_is_refused(store: Store, raw: redis.Redis) -> None:
    store.deny_add("+7900")
    assert create(store, "v1") == Refusal(RefusalCode.PHONE_NOT_ALLOWED, "deny_list")
    assert not raw.exists(store.keys.record("v1"))
    assert raw.hget(store.keys.totals, "sms_requested") is None


def test_a_full_window_refuses_until_its_oldest_entry_leaves(
    store: Store, clock: FakeClock
) -> None:
    assert isinstance(create(store, "v1", gate(per_hour=2)), Created)
    clock.advance(60)
    assert isinstance(create(store, "v2", gate(per_hour=2)), Created)
    clock.advance(60)
    refused = create(store, "v3", gate(per_hour=2))
    assert refused == Refusal(RefusalCode.RATE_LIMITED, "phone_hour", HOUR_MS - 120_000)
    clock.advance(HOUR_MS / 1000 - 120)
    assert isinstance(create(store, "v3", gate(per_hour=2)), Created)


def test_unusual_volume_asks_for_a_captcha(store: Store) -> None:
    step_up = StepUp(ip_per_hour=1, prefix_per_hour=100)
    assert isinstance(create(store, "v1", gate(step_up=step_up)), Created)
    assert create(store, "v2", gate(step_up=step_up)) == Refusal(
        RefusalCode.CAPTCHA_REQUIRED, "ip_volume"
    )
    assert isinstance(create(store, "v2", gate(step_up=step_up, captcha_passed=True)), Created)


def test_a_prefix_that_never_verifies_is_flagged_then_refused(
    store: Store, raw: redis.Redis
) -> None:
    pumping = PumpingPolicy(
        refuse=True, window_ms=HOUR_MS, min_sends=2, min_conversion=0.5, cooloff_ms=600_000
    )
    assert create(store, "v1", gate(pumping=pumping)) == Created("v1", existing=False)
    assert create(store, "v2", gate(pumping=pumping)) == Created(
        "v2", existing=False, pumping_flagged=True
    )
    flag = store.keys.pumping(gate().prefix_key, "flag")
    assert 0 < raw.pttl(flag) <= 600_000
    assert create(store, "v3", gate(pumping=pumping)) == Refusal(
        RefusalCode.RATE_LIMITED, "pumping"
    )


def test_a_resend_reads_the_subject_the_record_was_created_for(store: Store) -> None:
    create(store, "v1")
    assert store.sms_subject("v1") == SmsSubject(PHONE, "RU", 1)
    assert store.sms_subject("no-such-id") is None
