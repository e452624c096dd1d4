"""The pending sends through the Store's steps: create and resend note a queued send, the
claim (or an end) takes it out, and ``sweep_sends`` hands back what is overdue, once a grace."""

from __future__ import annotations

import redis
from helpers import FakeClock
from store_tier import LOCK_TTL_MS, PENDING_GRACE_MS, Steps, gate

from worker.store import ClaimOutcome, Overdue, ResendOutcome, Store, Swept
from worker.store.core import IDS_PER_STEP

GRACE_S = PENDING_GRACE_MS / 1000


def pending(store: Store, raw: redis.Redis) -> dict[str, float]:
    return dict(raw.zrange(store.keys.pending_sends, 0, -1, withscores=True))


def test_a_created_send_is_pending_until_a_worker_claims_it(
    store: Store, steps: Steps, raw: redis.Redis, clock: FakeClock
) -> None:
    vid = steps.queued()
    assert pending(store, raw) == {vid: int(clock() * 1000) + PENDING_GRACE_MS}
    steps.claimed(vid)
    assert pending(store, raw) == {}


def test_an_overdue_send_is_swept_once_per_grace(
    store: Store, steps: Steps, raw: redis.Redis, clock: FakeClock
) -> None:
    vid = steps.queued()
    clock.advance(GRACE_S - 1)
    assert store.sweep_sends(10, PENDING_GRACE_MS) == Swept()  # its message may be on its way
    clock.advance(1)
    assert store.sweep_sends(10, PENDING_GRACE_MS) == Swept((vid,))
    assert store.sweep_sends(10, PENDING_GRACE_MS) == Swept()  # a second sweeper: nothing
    assert pending(store, raw) == {vid: int(clock() * 1000) + PENDING_GRACE_MS}
    clock.advance(GRACE_S)
    assert store.sweep_sends(10, PENDING_GRACE_MS) == Swept((vid,))  # still lost: again


def test_a_sweep_takes_at_most_its_batch_and_the_earliest_first(
    store: Store, steps: Steps, clock: FakeClock
) -> None:
    first = steps.queued()
    clock.advance(1)
    second = steps.queued()
    clock.advance(GRACE_S)
    assert store.sweep_sends(1, PENDING_GRACE_MS) == Swept((first,))
    assert store.sweep_sends(1, PENDING_GRACE_MS) == Swept((second,))


def test_a_sweep_of_more_than_one_step_takes_each_due_send_once(
    store: Store, steps: Steps, clock: FakeClock
) -> None:
    vids = [steps.queued(gate(f"+7900666{i:04d}")) for i in range(2 * IDS_PER_STEP + 1)]
    clock.advance(GRACE_S)
    swept = store.sweep_sends(100, PENDING_GRACE_MS)
    assert sorted(swept.ids) == sorted(vids)
    assert store.sweep_sends(100, PENDING_GRACE_MS) == Swept()  # each is due a grace later


def test_a_sweep_drops_what_has_nothing_left_to_send(
    store: Store, steps: Steps, raw: redis.Redis, clock: FakeClock
) -> None:
    gone, sending = steps.queued(), steps.queued()
    raw.delete(store.keys.record(gone))  # expired, say
    steps.claimed(sending)
    raw.zadd(store.keys.pending_sends, {sending: 0})  # a claim whose removal was lost
    clock.advance(GRACE_S)
    assert store.sweep_sends(10, PENDING_GRACE_MS) == Swept((sending,), dropped=1)
    sent = steps.sent()
    raw.zadd(store.keys.pending_sends, {sent: 0})
    assert store.sweep_sends(10, PENDING_GRACE_MS) == Swept((), dropped=1)
    assert list(pending(store, raw)) == [sending]


def test_a_claim_that_finds_nothing_to_send_ends_its_pending(
    store: Store, steps: Steps, raw: redis.Redis, clock: FakeClock
) -> None:
    sent, late = steps.sent(), steps.queued()
    raw.zadd(store.keys.pending_sends, {sent: 0, "gone": 0})
    assert store.claim_send(sent, "t2", LOCK_TTL_MS).outcome is ClaimOutcome.DONE
    assert store.claim_send("gone", "t2", LOCK_TTL_MS).outcome is ClaimOutcome.MISSING
    clock.advance(GRACE_S)
    assert store.claim_send(late, "t2", LOCK_TTL_MS).outcome is ClaimOutcome.DEADLINE
    assert pending(store, raw) == {}


def test_a_busy_claim_leaves_the_pending_send(store: Store, steps: Steps, raw: redis.Redis) -> None:
    vid = steps.claimed()
    raw.zadd(store.keys.pending_sends, {vid: 1})
    assert store.claim_send(vid, "t2", LOCK_TTL_MS).outcome is ClaimOutcome.BUSY
    assert list(pending(store, raw)) == [vid]


def test_a_resend_is_pending_again(
    store: Store, steps: Steps, raw: redis.Redis, clock: FakeClock
) -> None:
    vid = steps.sent()
    assert steps.resend(vid) == (ResendOutcome.RESENT, "")
    assert pending(store, raw) == {vid: int(clock() * 1000) + PENDING_GRACE_MS}


def test_abandon_and_cancel_end_the_pending_send(
    store: Store, steps: Steps, raw: redis.Redis
) -> None:
    g = gate()
    first = steps.create(g).id
    store.abandon(g, verification_id=first, sends=1)
    resent = steps.sent()
    assert steps.resend(resent) == (ResendOutcome.RESENT, "")
    store.abandon(g, verification_id=resent, sends=2)
    canceled = steps.queued()
    store.cancel(canceled)
    assert pending(store, raw) == {}


def test_a_due_send_is_postponed_while_the_queue_may_still_hold_its_message(
    store: Store, steps: Steps, clock: FakeClock
) -> None:
    """First in, first out: a send's message still waits while fewer send messages were
    published after it than the queue holds."""
    sends = []
    for _ in range(3):
        clock.advance(0.001)  # a millisecond apart: ties in the pending set go by id
        sends.append(steps.queued())
    first, second, third = sends
    clock.advance(GRACE_S)
    assert store.overdue_sends() == Overdue(3, published=3)
    assert store.sweep_sends(10, PENDING_GRACE_MS, queued=3) == Swept(postponed=3)
    assert store.sweep_sends(10, PENDING_GRACE_MS, queued=2) == Swept((first,), postponed=2)
    # The copy is the newest message now: behind it, and the two, three are queued.
    assert store.sweep_sends(10, PENDING_GRACE_MS, queued=3) == Swept(postponed=2)
    assert store.overdue_sends() == Overdue(2, published=4)
    # The queue has handed them over, and they were not claimed: lost too.
    assert store.sweep_sends(10, PENDING_GRACE_MS, queued=1) == Swept((second, third))


def test_the_count_read_before_the_depth_keeps_a_later_publish_from_doubling_a_send(
    store: Store, steps: Steps, clock: FakeClock
) -> None:
    queued = [steps.queued() for _ in range(2)]
    clock.advance(GRACE_S)
    overdue = store.overdue_sends()  # the sweep counts first, then reads the depth: 2
    steps.queued()  # published after the depth was read
    assert store.sweep_sends(10, PENDING_GRACE_MS, 2, overdue.published) == Swept(postponed=2)
    # Read now, the count would have made the first look lost behind the two after it.
    assert store.sweep_sends(10, PENDING_GRACE_MS, 2) == Swept((queued[0],), postponed=1)
