"""cancel.lua through ``Store.cancel``: the code stops working and polling stops."""

from __future__ import annotations

import redis
from store_tier import CODE_DIGEST, Steps

from worker.store import Canceled, CancelOutcome, Store


def test_a_sent_code_stops_working_and_polling_stops(
    store: Store, steps: Steps, raw: redis.Redis
) -> None:
    vid = steps.sent()
    assert store.cancel(vid) == Canceled(CancelOutcome.CANCELED)
    record = steps.record(vid)
    assert record["state"] == "canceled" and "code_hmac" not in record
    assert raw.zscore(store.keys.poll, vid) is None
    assert steps.events(vid)[-1] == "canceled"
    # Canceling again answers the same and records nothing more.
    assert store.cancel(vid) == Canceled(CancelOutcome.CANCELED)
    assert steps.events(vid).count("canceled") == 1


def test_a_verified_record_stays_verified(store: Store, steps: Steps) -> None:
    vid = steps.sent()
    store.verify(
        vid, [CODE_DIGEST], verifier_key=None, window_ms=60_000, phone_limit=100, ip_limit=100,
        pumping_window_ms=60_000,
    )  # fmt: skip
    assert store.cancel(vid) == Canceled(CancelOutcome.NOT_ALLOWED, "verified")
    assert steps.record(vid)["state"] == "verified"


def test_an_unknown_verification_is_missing(store: Store) -> None:
    assert store.cancel("no-such-id") == Canceled(CancelOutcome.MISSING)
