"""The send lock in the Lua scripts: a send stores only while its token still holds the lock."""

from __future__ import annotations

from helpers import Sandbox, make_settings

from worker import request_code
from worker.runtime import Runtime

TTL = 60_000


def _stored(rt: Runtime, vid: str, token: str) -> list[object]:
    return rt.store.store_sent(
        vid, token, code_digest="d" * 64, id_sms="1", status="send", ttl_ms=TTL,
        first_poll_ms=0, max_attempts=5, poll_ttl_ms=TTL, poll_slack_ms=1000,
        poll_grace_ms=1000, poll_batch=10,
    )  # fmt: skip


def test_a_send_whose_lock_lapsed_writes_nothing(
    redis_url: str, sandbox: Sandbox, process_runtime: None
) -> None:
    rt = Runtime.from_settings(make_settings(redis_url, sandbox))
    vid = request_code("+79001234567", runtime=rt).id
    store = rt.store
    first = store.claim_send(vid, "token-a", TTL)
    assert first[0] == "claimed" and first[3] == "queued"
    # Worker A stalls past its lock; worker B takes over the same record.
    store.redis.delete(store.keys.lock(vid))
    second = store.claim_send(vid, "token-b", TTL)
    assert second[0] == "claimed" and second[3] == "sending"  # B knows it resumes a send

    assert store.extend_lock(vid, "token-a", TTL) is False
    assert _stored(rt, vid, "token-a") == ["discarded", "lock_lost"]
    assert store.store_failed(vid, "token-a", error_code="timeout", message="x") == [
        "discarded",
        "lock_lost",
    ]
    record, _ = store.load(vid)
    assert record["state"] == "sending" and "code_hmac" not in record
    assert store.redis.get(store.keys.lock(vid)) == "token-b"  # A did not release B's lock

    assert _stored(rt, vid, "token-b")[0] == "sent"
    # Once B stored and let go, A's late answer still cannot overwrite B's code.
    assert _stored(rt, vid, "token-a") == ["discarded", "lock_lost"]
    record, _ = store.load(vid)
    assert record["state"] == "sent" and record["code_hmac"] == "d" * 64
    rt.close()
