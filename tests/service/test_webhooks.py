"""Webhook delivery on its own: a receiver that never answers, a revoked key, what is sent."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from api_helpers import make_key
from webhook_receiver import receiving_webhooks

from worker.errors import NetworkError
from worker.http.transport import RequestsTransport, Timeout
from worker.runtime import Runtime
from worker.steps.webhooks import WebhookRefused, deliver, webhook_body, webhook_type

BODY = webhook_body("verification.sent", {"id": "v1", "state": "sent", "event": "sent", "at": 1})


@pytest.fixture
def silent_url() -> Iterator[str]:
    """Accepts connections and reads requests, answers nothing, ever."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    done.set()
    listener.close()
    for conn in held:
        conn.close()


def test_a_receiver_that_never_answers_is_cut_at_the_deadline(
    runtime: Runtime, silent_url: str
) -> None:
    make_key(runtime, "shop", webhook_url=silent_url)
    transport = RequestsTransport(pool_size=2)
    started = time.monotonic()
    with pytest.raises(NetworkError):
        deliver(
            runtime, "shop", "msg_1", BODY, transport=transport,
            timeout=Timeout(connect=1.0, read=30.0, total=1.0),
        )  # fmt: skip
    # The read timeout alone would wait 30 s; the call's deadline ends it (loose bound).
    assert time.monotonic() - started < 15


def test_non_2xx_is_refused_and_revoked_keys_are_dropped(runtime: Runtime) -> None:
    transport = RequestsTransport(pool_size=2)
    with receiving_webhooks() as hooks:
        hooks.answer = 500
        make_key(runtime, "shop", webhook_url=hooks.url)
        with pytest.raises(WebhookRefused):
            deliver(runtime, "shop", "msg_1", BODY, transport=transport)
        runtime.store.revoke_api_key("shop")
        assert deliver(runtime, "shop", "msg_2", BODY, transport=transport) is False
        assert len(hooks.posts) == 1


def test_what_the_events_become() -> None:
    assert webhook_type({"event": "status", "delivery_status": "deliver"}) == (
        "verification.delivered"
    )
    assert webhook_type({"event": "status", "delivery_status": "not_deliver"}) == (
        "verification.undelivered"
    )
    assert webhook_type({"event": "status", "delivery_status": "send"}) is None
    assert webhook_type({"event": "queued"}) is None
    assert webhook_type({"event": "verified"}) == "verification.verified"


def test_events_of_api_made_verifications_wait_in_the_stream_until_relayed(
    runtime: Runtime,
) -> None:
    """The relay reads what the Lua steps kept; an entry not acknowledged is read again. Only
    a key with a webhook has its events kept, and only those a webhook carries."""
    from worker import cancel, request_code
    from worker.core.api_keys import ApiKey

    make_key(runtime, "shop", webhook_url="https://shop.example/hook")
    make_key(runtime, "quiet")
    site, quiet = runtime.store.api_key("shop"), runtime.store.api_key("quiet")
    assert isinstance(site, ApiKey) and isinstance(quiet, ApiKey)
    made = request_code("+79161112255", client_ip="203.0.113.9", site=site, runtime=runtime)
    silent = request_code("+79161112257", client_ip="203.0.113.9", site=quiet, runtime=runtime)
    plain = request_code("+79161112256", client_ip="203.0.113.9", runtime=runtime)
    assert runtime.store.read_webhook_events("a", count=10, block_ms=10, idle_ms=60_000) == []
    for verification in (made, silent, plain):  # queued is no site's business; canceled is
        cancel(verification.id, runtime=runtime)
    first = runtime.store.read_webhook_events("a", count=10, block_ms=10, idle_ms=60_000)
    assert [(e.site, e.event["id"], e.event["event"]) for e in first] == [
        ("shop", made.id, "canceled")
    ]
    # Relay "a" died holding it: another relay claims it once it has been idle long enough.
    again = runtime.store.read_webhook_events("b", count=10, block_ms=10, idle_ms=0)
    assert [e.entry_id for e in again] == [first[0].entry_id]
    runtime.store.ack_webhook_events([first[0].entry_id])
    assert runtime.store.read_webhook_events("b", count=10, block_ms=10, idle_ms=0) == []
