"""``Store.apply_pushed`` and push_apply.lua on a real Redis: records made by the real send path
(producer API + send function against the sandbox), then statuses pushed by id_sms."""

from __future__ import annotations

import pytest
from helpers import Sandbox, make_settings, raw_redis

from worker import cancel, get_status, request_code, resend
from worker.dev.devstack import free_port
from worker.runtime import Runtime
from worker.steps.sending import send_verification
from worker.store import Store, StoreUnavailable, connect

pytestmark = pytest.mark.usefixtures("process_runtime")

PHONE = "+79001234567"


@pytest.fixture
def rt(redis_url: str, sandbox: Sandbox) -> Runtime:
    # A long first poll: nothing but the pushes below changes a status.
    return Runtime.from_settings(
        make_settings(redis_url, sandbox, OTP_POLL_FIRST_DELAY_SECONDS=600)
    )


def sent(rt: Runtime, phone: str = PHONE) -> tuple[str, str]:
    req = request_code(phone, runtime=rt)
    assert send_verification(rt, req.id).result == "sent"
    id_sms = get_status(req.id, runtime=rt).id_sms
    assert id_sms
    return req.id, id_sms


def events(rt: Runtime, verification_id: str) -> list[str]:
    return [h["event"] for h in get_status(verification_id, runtime=rt).history]


def polled(rt: Runtime, verification_id: str) -> bool:
    return raw_redis(rt).zscore(rt.store.keys.poll, verification_id) is not None


def test_final_status_is_applied_once_and_stops_polling(rt: Runtime) -> None:
    vid, id_sms = sent(rt)
    assert polled(rt, vid)
    assert rt.store.apply_pushed([(id_sms, "deliver")]) == [id_sms]
    assert get_status(vid, runtime=rt).delivery_status == "deliver"
    assert not polled(rt, vid)
    # The platform retries a push it thinks was lost: accepted again, nothing changes.
    assert rt.store.apply_pushed([(id_sms, "deliver"), (id_sms, "deliver")]) == [id_sms]
    assert events(rt, vid).count("status") == 1


def test_pending_status_is_kept_and_polling_goes_on(rt: Runtime) -> None:
    vid, id_sms = sent(rt)
    before = raw_redis(rt).zscore(rt.store.keys.poll, vid)
    assert rt.store.apply_pushed([(id_sms, "send")]) == [id_sms]  # unchanged: no event
    assert rt.store.apply_pushed([(id_sms, "read")]) == [id_sms]  # unknown: other, pending
    status = get_status(vid, runtime=rt)
    assert status.delivery_status == "other" and events(rt, vid).count("status") == 1
    assert status.history[-1]["raw"] == "read"  # the gateway's word, in the history only
    assert raw_redis(rt).zscore(rt.store.keys.poll, vid) == before


def test_a_late_pending_push_never_replaces_a_final_status(rt: Runtime) -> None:
    vid, id_sms = sent(rt)
    rt.store.apply_pushed([(id_sms, "not_deliver")])
    rt.store.apply_pushed([(id_sms, "send")])
    assert get_status(vid, runtime=rt).delivery_status == "not_deliver"
    assert not polled(rt, vid)


def delivery_fields(rt: Runtime) -> dict[str, int]:
    totals = raw_redis(rt).hgetall(rt.store.keys.totals)
    return {k: int(v) for k, v in totals.items() if k.startswith("delivery:")}


def test_forged_statuses_make_no_new_fields_and_count_once(rt: Runtime) -> None:
    vid, id_sms = sent(rt)
    before = delivery_fields(rt)
    forged = [(id_sms, f"made_up_{n}") for n in range(2003)] + [(id_sms, "x" * 5000 + "\x1b")]
    assert len(rt.store.apply_pushed(forged)) == 1
    after = delivery_fields(rt)
    assert set(after) - set(before) == {"delivery:other"}
    assert after["delivery:other"] == 1  # one record moved to `other` once
    history = get_status(vid, runtime=rt).history
    assert all(len(h.get("raw", "")) <= 32 for h in history)
    assert history[-1]["delivery_status"] == "other"


def test_a_final_status_is_final_and_counts_once(rt: Runtime) -> None:
    vid, id_sms = sent(rt)
    before = delivery_fields(rt)
    flips = [(id_sms, "deliver" if n % 2 == 0 else "not_deliver") for n in range(100)]
    rt.store.apply_pushed(flips)
    rt.store.apply_pushed([(id_sms, "send"), (id_sms, "read"), (id_sms, "deliver")])
    after = delivery_fields(rt)
    assert after["delivery:deliver"] - before.get("delivery:deliver", 0) == 1
    assert after.get("delivery:not_deliver", 0) == before.get("delivery:not_deliver", 0)
    assert after.get("delivery:other", 0) == before.get("delivery:other", 0)
    status = get_status(vid, runtime=rt)
    assert status.delivery_status == "deliver"
    late = [h for h in status.history if h["event"] == "late_status"]
    assert late and {h["delivery_status"] for h in late} == {"not_deliver"}
    assert events(rt, vid).count("status") == 1


def test_flapping_pending_statuses_count_each_once(rt: Runtime) -> None:
    _, id_sms = sent(rt)
    before = delivery_fields(rt)
    rt.store.apply_pushed([(id_sms, "read" if n % 2 else "send") for n in range(40)])
    after = delivery_fields(rt)
    assert after.get("delivery:other", 0) - before.get("delivery:other", 0) == 1
    assert after["delivery:send"] == before["delivery:send"]  # store_sent counted it already


def test_unknown_ids_are_accepted_and_ignored(rt: Runtime) -> None:
    vid, id_sms = sent(rt)
    keys_before = set(raw_redis(rt).scan_iter(match=rt.store.keys.prefix + "*"))
    accepted = rt.store.apply_pushed([("999", "deliver"), (id_sms, "deliver"), ("998", "send")])
    assert accepted == ["999", id_sms, "998"]
    assert set(raw_redis(rt).scan_iter(match=rt.store.keys.prefix + "*")) <= keys_before
    assert get_status(vid, runtime=rt).delivery_status == "deliver"


def test_a_stale_id_after_resend_is_ignored(rt: Runtime) -> None:
    vid, old = sent(rt)
    resend(vid, runtime=rt)
    assert rt.store.apply_pushed([(old, "deliver")]) == [old]
    assert get_status(vid, runtime=rt).delivery_status is None
    assert send_verification(rt, vid).result == "sent"
    new = get_status(vid, runtime=rt).id_sms
    assert new and new != old
    rt.store.apply_pushed([(old, "not_deliver")])
    assert get_status(vid, runtime=rt).delivery_status == "send"
    assert polled(rt, vid)
    rt.store.apply_pushed([(new, "deliver")])
    assert get_status(vid, runtime=rt).delivery_status == "deliver"
    assert not polled(rt, vid)


def test_a_canceled_verification_ignores_pushes(rt: Runtime) -> None:
    vid, id_sms = sent(rt)
    assert cancel(vid, runtime=rt)
    assert rt.store.apply_pushed([(id_sms, "deliver")]) == [id_sms]
    assert get_status(vid, runtime=rt).delivery_status == "send"


def test_the_index_expires_with_the_record(rt: Runtime) -> None:
    vid, id_sms = sent(rt)
    key = rt.store.keys.sms(id_sms)
    assert raw_redis(rt).get(key) == vid
    ttl = raw_redis(rt).pttl(key)
    assert ttl >= raw_redis(rt).pttl(rt.store.keys.record(vid)) - 1000 and ttl > 0


def test_many_states_in_one_push_span_chunks(rt: Runtime) -> None:
    sends = [sent(rt, f"+7900777{n:04d}") for n in range(3)]
    unknown = [(str(10**9 + n), "deliver") for n in range(1200)]
    states = unknown[:600] + [(id_sms, "deliver") for _, id_sms in sends] + unknown[600:]
    assert len(rt.store.apply_pushed(states)) == 1203
    assert all(get_status(v, runtime=rt).delivery_status == "deliver" for v, _ in sends)


def test_redis_away_raises_so_nothing_is_acknowledged() -> None:
    dead = Store(connect(f"redis://127.0.0.1:{free_port()}/0"), "t:")
    with pytest.raises(StoreUnavailable):
        dead.apply_pushed([("1", "deliver")])


def test_a_polled_status_passes_the_same_validation(rt: Runtime) -> None:
    """A `state` answer's text (up to 64 KiB, any characters) is no more trusted than a push."""
    vid, id_sms = sent(rt)
    before = delivery_fields(rt)
    huge = "\x1b[31m" + "y" * 65536
    args = {"max_age_ms": 600_000, "first_delay_ms": 1000, "max_delay_ms": 60_000}
    rt.store.poll_apply([(vid, id_sms, huge)], **args)
    rt.store.poll_apply([(vid, id_sms, "deliver")], **args)
    rt.store.poll_apply([(vid, id_sms, "expired")], **args)
    after = delivery_fields(rt)
    assert set(after) - set(before) <= {"delivery:other", "delivery:deliver"}
    assert after["delivery:other"] - before.get("delivery:other", 0) == 1
    assert after.get("delivery:expired", 0) == before.get("delivery:expired", 0)
    status = get_status(vid, runtime=rt)
    assert status.delivery_status == "deliver"
    raws = {h.get("raw") for h in status.history if h.get("raw")}
    assert raws == {"??31m" + "y" * 27}  # 32 characters, control and markup replaced
