"""Push: the set-URL request, the pushed body, the acknowledgement, and the receiver's HTTP face
(WSGI over a real loopback server, ASGI driven through its protocol) without Redis."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from helpers import LOGIN, PASSWORD, Sandbox, wait_until
from lxml import etree

from worker.dev.sandbox import SandboxConfig
from worker.dev.sandbox.push import MAX_RETRIES
from worker.errors import ProtocolError
from worker.providers.targetsms import TargetSMSClient, Timeout
from worker.providers.targetsms.protocol import (
    MAX_PUSH_BYTES,
    build_push_ack,
    build_set_push_url_request,
    parse_push,
)
from worker.settings import Settings
from worker.store import StoreUnavailable
from worker.web.push import PushReceiver, asgi_app, wsgi_app
from worker.web.serving import PUSH_LIMITS, serve

TOKEN = secrets.token_urlsafe(32)
PATH = f"/targetsms/state/{TOKEN}"
PUSH = (
    b'<?xml version="1.0" encoding="utf-8"?>\n<response>\n'
    b'  <state id_sms="1712292705" time="2026-01-01 12:57:46" num_parts="1" price="1.15">'
    b"deliver</state>\n"
    b'  <state id_sms="1712292706" time="">send</state>\n'
    b"</response>\n"
)


def test_set_push_url_request_carries_the_url_with_attribute_credentials() -> None:
    body = build_set_push_url_request(login="L&", password="P<", url="https://h/x?a=1&b=2")
    root = etree.fromstring(body)
    assert root.find("security/login").get("value") == "L&"  # type: ignore[union-attr]
    assert root.find("security/password").get("value") == "P<"  # type: ignore[union-attr]
    element = root.find("get_state")
    assert element is not None and element.get("type") == "set"
    assert element.text == "https://h/x?a=1&b=2"
    off = etree.fromstring(build_set_push_url_request(login="L", password="P", url=""))
    assert (off.find("get_state").text or "") == ""  # type: ignore[union-attr]


def test_push_body_is_read_in_order_with_times_and_prices() -> None:
    entries = parse_push(PUSH)
    assert [(e.id_sms, e.status) for e in entries] == [
        ("1712292705", "deliver"),
        ("1712292706", "send"),
    ]
    assert entries[0].time == "2026-01-01 12:57:46" and str(entries[0].price) == "1.15"
    assert entries[1].time is None


def test_a_lone_state_root_and_other_roots_are_read() -> None:
    assert parse_push(b'<state id_sms="7" time="">expired</state>')[0].status == "expired"
    assert parse_push(b'<request><state id_sms="7">read</state></request>')[0].status == "read"


def test_unusable_states_are_skipped_not_acknowledged() -> None:
    body = (
        b'<response><state id_sms="" >deliver</state><state id_sms="a b">deliver</state>'
        b'<state id_sms="9"></state><state id_sms="10">deliver</state></response>'
    )
    assert [e.id_sms for e in parse_push(body)] == ["10"]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"", "empty"),
        (b"   ", "empty"),
        (b"<html><body>hi</body></html>", "no <state"),
        (b"<response><state id_sms=", "not well-formed"),
        (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "deliver">]>'
         b'<r><state id_sms="1">&x;</state></r>', "DTD"),
        (b'<!DOCTYPE r SYSTEM "file:///etc/passwd"><r/>', "DTD"),
        (b"<r>" + b"<state id_sms='1'>deliver</state>" * 40000 + b"</r>", "larger than"),
    ],
)  # fmt: skip
def test_junk_is_a_protocol_error_with_a_clear_reason(body: bytes, why: str) -> None:
    with pytest.raises(ProtocolError, match=why):
        parse_push(body)


def test_billion_laughs_is_refused_before_expansion() -> None:
    lol = b'<!DOCTYPE r [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    with pytest.raises(ProtocolError, match="DTD"):
        parse_push(lol + b'<r><state id_sms="1">&b;</state></r>')


def test_ack_lists_each_id() -> None:
    root = etree.fromstring(build_push_ack(["1", "2"]))
    assert root.tag == "response" and [e.text for e in root] == ["1", "2"]
    assert len(etree.fromstring(build_push_ack([]))) == 0


class Recorder:
    """The Store step stand-in for this tier: remembers states; can act out a Redis outage."""

    def __init__(self) -> None:
        self.calls: list[list[tuple[str, str]]] = []
        self.down = False

    def __call__(self, states: Sequence[tuple[str, str]]) -> list[str]:
        if self.down:
            raise StoreUnavailable("Redis at 127.0.0.1:1 is unavailable (ConnectionError)")
        self.calls.append(list(states))
        return [id_sms for id_sms, _ in states]


@pytest.fixture(scope="module")
def shared_receiver() -> Iterator[tuple[Recorder, str]]:
    """One receiver for the module: its server notices a stop only about once a second."""
    recorder = Recorder()
    url, stop = _serve(recorder)
    yield recorder, url.removesuffix(PATH)
    stop()


@pytest.fixture
def recorder(shared_receiver: tuple[Recorder, str]) -> Recorder:
    recorder = shared_receiver[0]
    recorder.calls.clear()
    recorder.down = False
    return recorder


@pytest.fixture
def receiver_url(shared_receiver: tuple[Recorder, str], recorder: Recorder) -> str:
    return shared_receiver[1]


def test_wsgi_applies_and_acknowledges(receiver_url: str, recorder: Recorder) -> None:
    response = requests.post(receiver_url + PATH, data=PUSH, timeout=5)
    assert response.status_code == 200
    assert [e.text for e in etree.fromstring(response.content)] == ["1712292705", "1712292706"]
    assert recorder.calls == [[("1712292705", "deliver"), ("1712292706", "send")]]


def test_wsgi_redis_outage_acknowledges_nothing(receiver_url: str, recorder: Recorder) -> None:
    recorder.down = True
    response = requests.post(receiver_url + PATH, data=PUSH, timeout=5)
    assert response.status_code == 200
    assert len(etree.fromstring(response.content)) == 0


@pytest.mark.parametrize(
    "path",
    [
        "/targetsms/state/" + "x" * len(TOKEN),
        "/targetsms/state/",
        "/targetsms/state/" + TOKEN + "/",
        "/targetsms/state/" + TOKEN[:-1],
        "/",
    ],
    # Ids that stay the same across processes (xdist compares them) and show no token.
    ids=["a-wrong-token", "no-token", "a-trailing-slash", "one-character-short", "root"],
)
def test_any_other_path_is_404_and_never_applied(
    receiver_url: str, recorder: Recorder, path: str
) -> None:
    response = requests.post(receiver_url + path, data=PUSH, timeout=5)
    assert response.status_code == 404 and TOKEN not in response.text
    assert recorder.calls == []


def test_junk_is_400_with_one_line(receiver_url: str, recorder: Recorder) -> None:
    for body in (b"<html>oops</html>", b'<!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>', b"\xff\xfe"):
        response = requests.post(receiver_url + PATH, data=body, timeout=5)
        assert response.status_code == 400
        assert response.text.count("\n") == 1 and "Traceback" not in response.text
    assert recorder.calls == []


def test_oversize_is_413_without_reading_it(receiver_url: str, recorder: Recorder) -> None:
    response = requests.post(receiver_url + PATH, data=b" " * (MAX_PUSH_BYTES + 1), timeout=5)
    assert response.status_code == 413
    assert requests.get(receiver_url + PATH, timeout=5).status_code == 405
    assert recorder.calls == []


def test_token_must_be_long_and_random() -> None:
    def apply(states: Sequence[tuple[str, str]]) -> list[str]:
        return []

    for bad, why in (
        ("", "not set"),
        ("a" * 40, "guessable"),
        ("short-Token-1", "32 random"),
        ("change-me-to-a-long-random-string", "placeholder"),
    ):
        with pytest.raises(ValueError, match=why):
            PushReceiver(bad, apply)
    with pytest.raises(ValueError, match="letters, digits"):
        PushReceiver(TOKEN + "/x?y", apply)
    assert TOKEN not in repr(PushReceiver(TOKEN, apply))
    assert TOKEN not in repr(Settings().replace(TARGETSMS_PUSH_TOKEN=TOKEN).gateway)


def _asgi(app: Any, method: str, path: str, chunks: list[bytes]) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []
    incoming = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path}
    asyncio.run(app(scope, receive, send))
    return int(sent[0]["status"]), b"".join(m.get("body", b"") for m in sent[1:])


def test_asgi_app_answers_like_the_wsgi_one(recorder: Recorder) -> None:
    app = asgi_app(token=TOKEN, apply=recorder)
    status, body = _asgi(app, "POST", PATH, [PUSH[:50], PUSH[50:]])
    assert status == 200 and len(etree.fromstring(body)) == 2
    assert _asgi(app, "POST", "/elsewhere", [PUSH])[0] == 404
    assert _asgi(app, "POST", PATH, [b"junk"])[0] == 400
    assert _asgi(app, "POST", PATH, [b" " * MAX_PUSH_BYTES, b" "])[0] == 413
    assert len(recorder.calls) == 1


# --- the sandbox pushes like the platform: set by get_state.php, retried until acknowledged ---


class Stubborn(Recorder):
    """Acknowledges nothing for the first ``refuse`` pushes (a receiver whose Redis blinked)."""

    def __init__(self, refuse: int) -> None:
        super().__init__()
        self.refuse = refuse

    def __call__(self, states: Sequence[tuple[str, str]]) -> list[str]:
        self.calls.append(list(states))
        return [] if len(self.calls) <= self.refuse else [i for i, _ in states]


def _client(sandbox: Sandbox) -> TargetSMSClient:
    return TargetSMSClient(
        login=LOGIN,
        password=PASSWORD,
        sender="target",
        service_name="TestShop",
        send_url=sandbox.send_url,
        state_url=sandbox.state_url,
        timeout=Timeout(connect=1, read=2),
    )


def _serve(apply: Recorder) -> tuple[str, Callable[[], None]]:
    """The receiver on the server ``targetsms push-receiver`` uses (worker/web/serving.py)."""
    server = serve(wsgi_app(token=TOKEN, apply=apply), "127.0.0.1", 0, PUSH_LIMITS)
    done = threading.Event()
    thread = threading.Thread(target=server.run, args=(done.is_set,))
    thread.start()

    def stop() -> None:
        done.set()
        # The server checks ``done`` between polls of up to a second; a connection ends the poll.
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", urlsplit(server.url).port), timeout=1).close()
        thread.join(10)

    return f"{server.url}{PATH}", stop


def test_push_url_set_through_the_api_makes_the_sandbox_push(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    recorder = Recorder()
    url, stop = _serve(recorder)
    try:
        sandbox = sandbox_factory(deliver_after_ms=0)  # each status is final at once
        client = _client(sandbox)
        assert client.push_setup_url == sandbox.url + "/xml/get_state.php"
        client.set_push_url(url)
        sent = [client.send_code("+79001234567", text="TestShop {код}", code_length=4)]
        sent.append(client.send_code("+79990000005", text="TestShop {код}", code_length=4))
        # The receiver records a push before the sandbox reads its answer: wait for the acks.
        wait_until(lambda: sandbox.stats().get("push_acked", 0) >= 2, timeout=10)
        pushed = dict(state for call in recorder.calls for state in call)
        assert pushed == {sent[0].id_sms: "deliver", sent[1].id_sms: "not_deliver"}
        assert sandbox.stats()["push_acked"] == 2 and sandbox.stats()["get_state_set"] == 1
        client.set_push_url(None)
        assert sandbox.stats()["get_state_set"] == 2
    finally:
        stop()


def test_unacknowledged_ids_are_pushed_again_then_given_up(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    late, never = Stubborn(refuse=2), Stubborn(refuse=10**6)
    late_url, stop_late = _serve(late)
    never_url, stop_never = _serve(never)
    try:
        for url in (late_url, never_url):
            # Delivered at once, retried after 5, 10, 20... ms: what is counted is the pushes.
            sandbox = sandbox_factory(push_url=url, push_retry_ms=5, deliver_after_ms=0)
            _client(sandbox).send_code("+79001234567", text="TestShop {код}", code_length=4)
            wait_until(
                lambda s=sandbox: (
                    s.stats().get("push_acked", 0) + s.stats().get("push_given_up", 0) >= 1
                ),
                timeout=15,
            )
        assert len(late.calls) == 3 and late.calls[0] == late.calls[2]
        assert len(never.calls) == 1 + MAX_RETRIES
        stats = sandbox.stats()
        assert stats["push_retries"] == MAX_RETRIES and stats["push_given_up"] == 1
    finally:
        stop_late()
        stop_never()


def test_sandbox_refuses_a_bad_push_url() -> None:
    with pytest.raises(ValueError, match="push URL"):
        SandboxConfig(push_url="ftp://x")
