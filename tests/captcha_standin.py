"""A loopback stand-in for the captcha providers' verify endpoints, shared by the tests.

It checks the secret and the token the way the providers document it, answers according to the
token's kind (the part before the first dot: ``ok.…``, ``bad.…``, ``slow.…`` …), and records
what reached it so tests can assert parameter names and the method.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

SECRET = "sk-" + "t0p-s3cr3t-Ключ"
SLOW = 5.0  # how long the stand-in stalls: far past a test's short timeout, so bounds are loose


# -- the stand-in ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    content_type: str
    peer: tuple[str, int]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real providers do
    disable_nagle_algorithm = True  # headers and body go out in two writes
    stand_in: ClassVar[StandIn]

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        self._handle(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._handle(self.rfile.read(length))

    def _handle(self, body: bytes) -> None:
        parts = urlsplit(self.path)
        content_type = self.headers.get("Content-Type", "")
        form = dict(parse_qsl(body.decode(), keep_blank_values=True)) if body else {}
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        peer = (str(self.client_address[0]), int(self.client_address[1]))
        self.stand_in.record(Received(self.command, parts.path, query, form, content_type, peer))

        provider = parts.path.strip("/").split("/")[0]
        if parts.path.endswith("/elsewhere"):
            return self._json(200, _success(provider))
        params = {**query, **form}
        if params.get("secret") != SECRET:
            return self._json(200, _failure(provider, secret_problem=True))
        token = params.get("token" if provider == "yandex" else "response", "")
        if not token:
            return self._json(200, _failure(provider))
        kind = token.split(".", 1)[0]
        self._answer(provider, kind)

    def _answer(self, provider: str, kind: str) -> None:
        if kind == "good":
            return self._json(200, _success(provider))
        if kind == "v3good":
            return self._json(200, _success(provider, score=0.9))
        if kind == "edgescore":
            return self._json(200, _success(provider, score=0.5))
        if kind == "lowscore":
            return self._json(200, _success(provider, score=0.1))
        if kind == "badscore":
            return self._json(200, {**_success(provider), "score": "high"})
        if kind == "nanscore":
            return self._raw(200, b'{"success": true, "score": NaN}')
        if kind == "bad":
            return self._json(200, _failure(provider))
        if kind == "badodd":  # a "no" with an unusable score beside it
            return self._raw(200, b'{"success": false, "score": NaN, "error-codes": []}')
        if kind == "bad400":
            return self._json(400, _failure(provider))
        if kind == "yes403":
            return self._json(403, _success(provider))
        if kind == "slow":
            time.sleep(SLOW)
            return self._json(200, _success(provider))
        if kind == "slowbody":
            return self._stall_body(provider)
        if kind == "trickle":
            return self._trickle(provider)
        if kind == "tricklehead":
            return self._trickle_head(provider)
        if kind == "html":
            page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
            return self._raw(502, page, "text/html")
        if kind == "s503":
            return self._json(503, {"error": "overloaded"})
        if kind == "junk":
            return self._raw(200, b"<html>captcha service moved</html>", "text/html")
        if kind == "array":
            return self._json(200, [True])
        if kind == "wrongtype":
            key = "status" if provider == "yandex" else "success"
            return self._json(200, {key: 1})
        if kind == "huge":
            return self._raw(200, b" " * 100_000 + json.dumps(_success(provider)).encode())
        if kind == "redirect":
            self.send_response(302)
            self.send_header("Location", f"/{provider}/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        raise AssertionError(f"stand-in got an unknown token kind {kind!r}")

    def _json(self, status: int, payload: Any) -> None:
        self._raw(status, json.dumps(payload).encode(), "application/json")

    def _raw(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _stall_body(self, provider: str) -> None:
        body = json.dumps(_success(provider)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:5])
        self.wfile.flush()
        time.sleep(SLOW)
        self._write_quietly(body[5:])

    def _trickle(self, provider: str) -> None:
        """Every gap shorter than the read timeout, the whole well past the overall one."""
        body = json.dumps(_success(provider)).encode()
        pad = 80  # 4 s in all
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(pad + len(body)))
        self.end_headers()
        self.wfile.flush()
        for _ in range(pad):
            if not self._write_quietly(b" "):
                return
            time.sleep(0.05)
        self._write_quietly(body)

    def _trickle_head(self, provider: str) -> None:
        """The status line and headers a byte at a time, each gap under the read timeout."""
        body = json.dumps(_success(provider)).encode()
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        for byte in head:
            if not self._write_quietly(bytes([byte])):
                return
            time.sleep(0.05)
        self._write_quietly(body)

    def _write_quietly(self, data: bytes) -> bool:
        try:
            self.wfile.write(data)
            self.wfile.flush()
            return True
        except OSError:  # the client gave up, as it should
            self.close_connection = True
            return False


def _success(provider: str, score: float | None = None) -> dict[str, Any]:
    if provider == "yandex":
        return {"status": "ok", "message": "", "host": "example.com"}
    answer: dict[str, Any] = {
        "success": True,
        "challenge_ts": "2026-01-01T00:00:00Z",
        "hostname": "example.com",
        "error-codes": [],
    }
    if score is not None:
        answer |= {"score": score, "action": "login"}
    return answer


def _failure(provider: str, *, secret_problem: bool = False) -> dict[str, Any]:
    if provider == "yandex":
        message = (
            "Authentication failed. Secret has not provided."
            if secret_problem
            else "Token invalid or expired."
        )
        return {"status": "failed", "message": message}
    code = "invalid-input-secret" if secret_problem else "invalid-input-response"
    return {"success": False, "error-codes": [code]}


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up on a stalled answer is the point of those tests


class StandIn:
    def __init__(self) -> None:
        handler = type("Handler", (_Handler,), {"stand_in": self})
        self.server = _QuietServer(("127.0.0.1", 0), handler)
        self.port = self.server.server_address[1]
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def record(self, received: Received) -> None:
        with self._lock:
            self._received.append(received)

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def clear(self) -> None:
        with self._lock:
            self._received.clear()

    def url(self, provider: str) -> str:
        return f"http://127.0.0.1:{self.port}/{provider}/verify"

    def __enter__(self) -> StandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def token(kind: str) -> str:
    """A unique token per use, so a leak into logs cannot hide behind a common word."""
    return f"{kind}.{uuid.uuid4().hex}"
