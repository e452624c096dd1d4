"""resend.lua through ``Store.resend``: the old code stops working at once, and the new SMS
passes the same gate as a first request."""

from __future__ import annotations

import redis
from helpers import FakeClock
from store_tier import (
    CODE_DIGEST,
    MAX_ATTEMPTS,
    MAX_SENDS,
    PENDING_GRACE_MS,
    SEND_WINDOW_MS,
    Steps,
    gate,
)

from worker.core.outcomes import RefusalCode
from worker.store import Refusal, ResendOutcome, Store


def test_a_resend_drops_the_old_code_and_queues_again(
    store: Store, steps: Steps, raw: redis.Redis, clock: FakeClock
) -> None:
    vid = steps.sent()
    assert raw.zscore(store.keys.poll, vid) is not None
    store.verify(
        vid, ["f" * 64], verifier_key=None, window_ms=60_000, phone_limit=100, ip_limit=100,
        pumping_window_ms=60_000,
    )  # fmt: skip
    clock.advance(5)
    assert steps.resend(vid) == (ResendOutcome.RESENT, "")
    now_ms = int(clock() * 1000)
    record = steps.record(vid)
    assert record["state"] == "queued" and record["sends"] == "2"
    assert record["attempts_left"] == str(MAX_ATTEMPTS)  # a new code, a new budget
    assert record["send_deadline"] == str(now_ms + SEND_WINDOW_MS)
    for gone in ("code_hmac", "id_sms", "delivery_status", "expires_at", "sent_at", "claim"):
        assert gone not in record
    assert raw.zscore(store.keys.poll, vid) is None
    assert steps.events(vid)[-1] == "resend"
    g = gate()
    assert raw.zscore(store.keys.limit_log("phone_hour", g.phone_key), f"{vid}:2") == now_ms
    assert raw.hget(store.keys.totals, "sms_requested") == "2"


def test_a_send_within_its_deadline_is_in_flight(
    steps: Steps, clock: FakeClock, store: Store
) -> None:
    vid = steps.queued()
    assert steps.resend(vid) == (ResendOutcome.IN_FLIGHT, "")
    clock.advance(SEND_WINDOW_MS / 1000)  # lost (never queued): it may be sent again
    assert steps.resend(vid) == (ResendOutcome.RESENT, "")


def test_final_states_and_parallel_resends(store: Store, steps: Steps) -> None:
    vid = steps.sent()
    store.cancel(vid)
    assert steps.resend(vid) == (ResendOutcome.NOT_ALLOWED, "canceled")
    other = steps.sent(id_sms="1002")
    stale = store.resend(
        gate(), verification_id=other, sends=0, send_window_ms=SEND_WINDOW_MS,
        max_attempts=MAX_ATTEMPTS, max_sends=MAX_SENDS, record_ttl_ms=60_000,
        pending_grace_ms=PENDING_GRACE_MS,
    )  # fmt: skip
    assert stale == (ResendOutcome.CHANGED, "")  # a parallel resend read another count
    missing = store.resend(
        gate(), verification_id="gone", sends=1, send_window_ms=SEND_WINDOW_MS,
        max_attempts=MAX_ATTEMPTS, max_sends=MAX_SENDS, record_ttl_ms=60_000,
        pending_grace_ms=PENDING_GRACE_MS,
    )  # fmt: skip
    assert missing == (ResendOutcome.MISSING, "")


def test_sends_per_verification_are_capped(store: Store, steps: Steps, raw: redis.Redis) -> None:
    vid = steps.sent()
    for n in range(2, MAX_SENDS + 1):
        assert steps.resend(vid) == (ResendOutcome.RESENT, "")
        steps.claimed(vid, token=f"t{n}")
        assert steps.store_sent(vid, f"t{n}", id_sms=str(n)).stored
    refused = steps.resend(vid)
    assert isinstance(refused, Refusal)
    assert (refused.code, refused.why) == (RefusalCode.RATE_LIMITED, "sends_per_verification")
    assert refused.retry_after_ms and refused.retry_after_ms > 0
    assert steps.record(vid)["code_hmac"] == CODE_DIGEST  # the last code still works


def test_the_gate_refuses_a_resend_like_a_first_request(store: Store, steps: Steps) -> None:
    vid = steps.sent(gate(per_hour=1))
    refused = steps.resend(vid, gate(per_hour=1))
    assert isinstance(refused, Refusal) and refused.why == "phone_hour"
    assert steps.record(vid)["state"] == "sent"
