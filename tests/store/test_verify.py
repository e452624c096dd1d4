"""verify.lua through ``Store.verify``: every answer, what each one writes, and the guessing
budgets that span verifications."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import redis
from helpers import FakeClock
from store_tier import CODE_DIGEST, CODE_TTL_MS, MAX_ATTEMPTS, PHONE, Steps, gate

from worker.core.outcomes import VerifyReason
from worker.store import Store, Topology, Verdict

WRONG = "f" * 64
WINDOW_MS = 60_000  # shorter than the code's TTL: a window can end while the code works


def verify(
    store: Store,
    vid: str,
    *candidates: str,
    verifier: str | None = "verifier-ip",
    phone_limit: int = 100,
    ip_limit: int = 100,
) -> Verdict:
    return store.verify(
        vid,
        list(candidates),
        verifier_key=verifier,
        window_ms=WINDOW_MS,
        phone_limit=phone_limit,
        ip_limit=ip_limit,
        pumping_window_ms=WINDOW_MS,
    )


def totals(raw: redis.Redis, store: Store) -> dict[str, str]:
    return raw.hgetall(store.keys.totals)


def test_the_right_code_verifies_once_and_names_the_phone(
    store: Store, steps: Steps, raw: redis.Redis
) -> None:
    vid = steps.sent()
    verdict = verify(store, vid, CODE_DIGEST)
    assert verdict == Verdict(VerifyReason.OK, MAX_ATTEMPTS, 0, PHONE)
    record = steps.record(vid)
    assert record["state"] == "verified" and "code_hmac" not in record  # single use
    assert record["verified_at"] == record["updated_at"]
    assert steps.events(vid)[-1] == "verified"
    # The prefix's verifications (pumping watch) and the statistics count it.
    assert raw.zscore(store.keys.pumping(gate().prefix_key, "v"), vid) is not None
    bucket = raw.hgetall(store.stats_key())
    assert bucket["verified"] == "1" and bucket["verified:RU"] == "1"
    assert totals(raw, store)["verify:ok"] == "1"

    again = verify(store, vid, CODE_DIGEST)
    assert again == Verdict(VerifyReason.ALREADY_USED, MAX_ATTEMPTS)
    assert again.phone is None  # only the attempt that used the code learns the number
    assert totals(raw, store)["verify:already_used"] == "1"


def test_any_candidate_may_match_while_a_key_rotates(store: Store, steps: Steps) -> None:
    vid = steps.sent()
    assert verify(store, vid, WRONG, CODE_DIGEST).reason is VerifyReason.OK


def test_wrong_codes_use_up_attempts_then_lock(
    store: Store, steps: Steps, raw: redis.Redis
) -> None:
    vid = steps.sent()
    for left in range(MAX_ATTEMPTS - 1, 0, -1):
        assert verify(store, vid, WRONG) == Verdict(VerifyReason.WRONG, left)
    assert verify(store, vid, WRONG) == Verdict(VerifyReason.LOCKED, 0)
    record = steps.record(vid)
    assert record["state"] == "locked" and "code_hmac" not in record
    assert record["compares"] == str(MAX_ATTEMPTS)
    # Locked is final: even the right code no longer works.
    assert verify(store, vid, CODE_DIGEST) == Verdict(VerifyReason.LOCKED, 0)
    assert steps.events(vid)[-1] == "locked"
    counted = totals(raw, store)
    assert counted["verify:wrong"] == str(MAX_ATTEMPTS - 1)
    assert counted["verify:locked"] == "2"


def test_a_code_past_its_ttl_expires(store: Store, steps: Steps, clock: FakeClock) -> None:
    vid = steps.sent()
    clock.advance(CODE_TTL_MS / 1000)
    assert verify(store, vid, CODE_DIGEST) == Verdict(VerifyReason.EXPIRED, MAX_ATTEMPTS)
    record = steps.record(vid)
    assert record["state"] == "expired" and "code_hmac" not in record
    assert steps.events(vid)[-1] == "expired"


def test_a_code_just_inside_its_ttl_still_verifies(
    store: Store, steps: Steps, clock: FakeClock
) -> None:
    vid = steps.sent()
    clock.advance(CODE_TTL_MS / 1000 - 0.001)
    assert verify(store, vid, CODE_DIGEST).reason is VerifyReason.OK


def test_before_the_send_and_after_a_failure_nothing_is_compared(
    store: Store, steps: Steps
) -> None:
    queued = steps.queued()
    assert verify(store, queued, CODE_DIGEST) == Verdict(VerifyReason.NOT_SENT_YET, MAX_ATTEMPTS)
    sending = steps.claimed()
    assert verify(store, sending, CODE_DIGEST).reason is VerifyReason.NOT_SENT_YET
    store.store_failed(sending, "token-a", error_code="rejected", message="no")
    assert verify(store, sending, CODE_DIGEST).reason is VerifyReason.FAILED
    assert steps.record(sending)["compares"] == "0"
    assert verify(store, "no-such-id", CODE_DIGEST) == Verdict(VerifyReason.UNKNOWN, 0)


def test_wrong_codes_count_per_phone_across_verifications(
    store: Store, steps: Steps, clock: FakeClock
) -> None:
    """Rotating verifications of one phone does not multiply the guesses."""
    first, second = steps.sent(), steps.sent(id_sms="1002")
    assert verify(store, first, WRONG, verifier=None, phone_limit=2).reason is VerifyReason.WRONG
    assert verify(store, second, WRONG, verifier=None, phone_limit=2).reason is VerifyReason.WRONG
    clock.advance(10)
    refused = verify(store, second, CODE_DIGEST, verifier=None, phone_limit=2)
    assert refused.reason is VerifyReason.RATE_LIMITED
    assert refused.retry_after_ms == WINDOW_MS - 10_000  # the oldest guess leaves the window
    assert refused.attempts_left == MAX_ATTEMPTS - 1  # a refusal costs no attempt
    assert steps.record(second)["state"] == "sent"
    clock.advance(WINDOW_MS / 1000)
    assert verify(store, second, CODE_DIGEST, verifier=None, phone_limit=2).reason is (
        VerifyReason.OK
    )


def test_wrong_codes_count_per_verifying_ip(store: Store, steps: Steps) -> None:
    vids = [steps.sent(gate(f"+7900123{n:04d}"), id_sms=str(n)) for n in range(3)]
    for vid in vids[:2]:
        assert verify(store, vid, WRONG, ip_limit=2).reason is VerifyReason.WRONG
    assert verify(store, vids[2], CODE_DIGEST, ip_limit=2).reason is VerifyReason.RATE_LIMITED
    # Another verifying IP is not held to that IP's budget.
    assert verify(store, vids[2], CODE_DIGEST, verifier="other-ip", ip_limit=2).reason is (
        VerifyReason.OK
    )


def test_a_right_code_leaves_no_guess_behind(store: Store, steps: Steps, raw: redis.Redis) -> None:
    vid = steps.sent()
    assert verify(store, vid, CODE_DIGEST).reason is VerifyReason.OK
    assert not raw.exists(store.keys.verifier_log("verifier-ip"))
    g = gate()
    assert not raw.exists(store.keys.guess_log(g.phone_key, g.ip_key or ""))


def test_the_creating_store_skips_the_subject_read_and_another_makes_it(
    store: Store, steps: Steps, raw: redis.Redis, topology: Topology, clock: FakeClock
) -> None:
    """The subject fields name the logs verify.lua touches: the Store that created the
    verification knows them (``Subjects``), a Store of another process reads them first. Both
    count a wrong code in the same guessing log and answer alike."""
    g = gate()
    vid = steps.sent(g)
    guesses = store.keys.guess_log(g.phone_key, g.ip_key or "")
    other = Store.from_url(topology.url, store.keys.prefix, clock=clock, topology=topology)
    try:
        with _hmgets(raw, topology) as read_first:
            assert verify(other, vid, WRONG).reason is VerifyReason.WRONG
        assert raw.zcard(guesses) == 1
        with _hmgets(raw, topology) as known:
            assert verify(store, vid, WRONG).reason is VerifyReason.WRONG
        assert raw.zcard(guesses) == 2
        if not topology.cluster:  # a cluster counts commands per node
            assert (read_first, known) == ([2], [1])  # the read and verify.lua's own, or its own
        assert verify(store, vid, CODE_DIGEST).reason is VerifyReason.OK
    finally:
        other.close()


@contextlib.contextmanager
def _hmgets(raw: redis.Redis, topology: Topology) -> Iterator[list[int]]:
    """How many HMGETs the one server ran inside the block (nothing is counted on a cluster)."""
    counted: list[int] = []

    def calls() -> int:
        return int(raw.info("commandstats").get("cmdstat_hmget", {}).get("calls", 0))

    before = 0 if topology.cluster else calls()
    yield counted
    if not topology.cluster:
        counted.append(calls() - before)
