"""worker.watch_events: one verification's state changes, live, from the Redis events channel."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from helpers import make_settings, refused_port

from worker import ServiceUnavailable, cancel, request_code, watch_events
from worker.providers.memory import InMemoryProvider
from worker.runtime import Runtime
from worker.steps.sending import send_verification

PHONE = "+79001234567"
OTHER = "+79001234568"


@pytest.fixture
def rt(redis_url: str, sms: InMemoryProvider) -> Iterator[Runtime]:
    runtime = Runtime.from_settings(make_settings(redis_url), provider=sms)
    yield runtime
    runtime.close()


def test_yields_only_this_verifications_events_in_order_and_no_secrets(
    rt: Runtime, sms: InMemoryProvider
) -> None:
    mine = request_code(PHONE, runtime=rt).id
    other = request_code(OTHER, runtime=rt).id
    events = watch_events(mine, timeout=10, runtime=rt)

    # Subscribed before returning: changes made now are seen when the iterator is read later.
    assert send_verification(rt, other).result == "sent"
    assert send_verification(rt, mine).result == "sent"
    cancel(other, runtime=rt)
    cancel(mine, runtime=rt)

    seen = [next(events) for _ in range(3)]
    events.close()
    assert [(e["event"], e["state"]) for e in seen] == [
        ("sending", "sending"),
        ("sent", "sent"),
        ("canceled", "canceled"),
    ]
    assert {e["id"] for e in seen} == {mine}
    assert seen[1]["delivery_status"] == "send"
    code = sms.last_code(PHONE)
    for event in seen:
        text = repr(event)
        assert PHONE not in text and PHONE[1:] not in text and code not in text


def test_stops_at_the_timeout(rt: Runtime) -> None:
    mine = request_code(PHONE, runtime=rt).id
    started = time.monotonic()
    assert list(watch_events(mine, timeout=0.3, runtime=rt)) == []
    assert 0.25 <= time.monotonic() - started < 10  # it stopped, and not before its time


def test_unreachable_redis_is_service_unavailable() -> None:
    down = Runtime.from_settings(make_settings(f"redis://127.0.0.1:{refused_port()}/0"))
    with pytest.raises(ServiceUnavailable):
        watch_events("v" * 20, timeout=1, runtime=down)
