"""The HTTP leg (worker.http: the transport and its one wall-clock limit per call) against peers
that dribble or are not there. Real sockets on loopback: the socket is the point here.

The bounds are loose on purpose: each peer would hold a call for 20 s or more if nothing cut
it, so "well under that" is the claim, and a loaded machine cannot make it flake.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from helpers import GatewayAt, Sandbox, gateway_client, refused_port

from worker.errors import NetworkError
from worker.providers.targetsms import Timeout

TEXT = "TestShop: код {код}"
TRICKLING = "+79990000700"  # sent, then the whole answer a byte per 100 ms (about 20 s)


@pytest.fixture
def trickling(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    """Every gap between two bytes far shorter than the read timeout."""
    return sandbox_factory(trickle_ms=100)


def test_a_trickling_answer_is_cut_at_connect_plus_read(trickling: Sandbox) -> None:
    client = gateway_client(trickling, timeout=Timeout(connect=0.25, read=0.35))
    started = time.monotonic()
    with pytest.raises(NetworkError) as info:
        client.send_code(TRICKLING, text=TEXT, code_length=6)
    elapsed = time.monotonic() - started
    assert info.value.code == "timeout" and info.value.maybe_sent
    assert 0.55 <= elapsed < 6, elapsed  # connect + read = 0.6 s, not the ~20 s it would take
    assert len(trickling.outbox(TRICKLING)) == 1  # it did go out: hence "maybe sent"
    # The connection that was cut is not reused: the next call on the client works.
    assert client.send_code("+79001234567", text=TEXT, code_length=6).status == "send"


def test_no_call_outlives_the_time_left(trickling: Sandbox) -> None:
    client = gateway_client(trickling, timeout=Timeout(connect=5, read=5))
    started = time.monotonic()
    with pytest.raises(NetworkError):
        client.send_code(TRICKLING, text=TEXT, code_length=6, time_left=0.3)
    assert time.monotonic() - started < 5  # under even one read timeout
    with pytest.raises(NetworkError):
        client.get_state(["1"], time_left=0)


@pytest.fixture
def dribbling_port() -> Iterator[int]:
    """A gateway that sends its status line one byte every 0.2 s (200 s for the answer)."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def dribble() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b" " * 1000:
                if stop.wait(0.2):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    threading.Thread(target=dribble, daemon=True).start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()


def test_a_trickled_state_or_balance_call_is_cut_too(dribbling_port: int) -> None:
    client = gateway_client(GatewayAt(dribbling_port), timeout=Timeout(0.25, 0.25))
    started = time.monotonic()
    with pytest.raises(NetworkError) as info:
        client.balance()
    assert info.value.code == "timeout" and time.monotonic() - started < 6


def test_unreachable_gateway_is_a_network_error() -> None:
    client = gateway_client(GatewayAt(refused_port()), timeout=Timeout(0.5, 0.5))
    with pytest.raises(NetworkError) as info:
        client.send_code("+79001234567", text=TEXT, code_length=6)
    assert "pw-" not in info.value.message and "test-login" not in info.value.message
