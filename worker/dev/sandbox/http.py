"""A small asyncio HTTP/1.1 server: keep-alive, pipelining, Content-Length and chunked bodies.

Built on ``asyncio.Protocol`` rather than streams so that an idle keep-alive connection costs a
buffer and no task, and an answer without delay is written straight from ``data_received``.
Delays (latency, hangs) park only that connection on a timer; requests pipelined behind it wait
in its buffer and are answered in order. Reading goes on meanwhile so that a client giving up
(EOF) ends a hang at once instead of leaving a half-closed socket behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import urlsplit

__all__ = ["Handler", "HttpServer", "Request", "Response"]

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 1024 * 1024
IDLE_TIMEOUT_S = 120.0


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0  # seconds to wait before answering
    hang: bool = False  # never answer; the connection stays open until the client leaves
    trickle: float = 0.0  # write the whole answer one byte at a time, this many seconds apart


Handler = Callable[[Request], Response]


class HttpError(Exception):
    """A request we refuse at the HTTP level; the connection is closed after the answer."""

    def __init__(self, status: HTTPStatus, detail: str) -> None:
        super().__init__(detail)
        self.status = status


@dataclass(slots=True)
class _Head:
    method: str
    target: str
    version: str
    headers: dict[str, str]
    length: int  # bytes of the head, blank line included
    content_length: int
    chunked: bool
    keep_alive: bool
    continue_sent: bool = field(default=False)


def _parse_head(buf: bytearray) -> _Head | None:
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > MAX_HEAD_BYTES:
            raise HttpError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request head too large")
        return None
    if end > MAX_HEAD_BYTES:
        raise HttpError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request head too large")
    lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[0].isalpha() or not parts[1]:
        raise HttpError(HTTPStatus.BAD_REQUEST, "bad request line")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise HttpError(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, "only HTTP/1.0 and HTTP/1.1")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip() or line[0] in " \t":
            raise HttpError(HTTPStatus.BAD_REQUEST, "bad header line")
        key = name.lower()
        value = value.strip()
        if key in headers:
            if key == "content-length" and headers[key] != value:
                raise HttpError(HTTPStatus.BAD_REQUEST, "conflicting Content-Length")
            if key != "content-length":
                headers[key] = f"{headers[key]}, {value}"
        else:
            headers[key] = value
    chunked = False
    if "transfer-encoding" in headers:
        if "content-length" in headers:  # the classic request-smuggling ambiguity: refuse it
            raise HttpError(HTTPStatus.BAD_REQUEST, "both Transfer-Encoding and Content-Length")
        if headers["transfer-encoding"].lower() != "chunked":
            raise HttpError(HTTPStatus.NOT_IMPLEMENTED, "only chunked transfer coding")
        chunked = True
    content_length = 0
    raw_length = headers.get("content-length")
    if raw_length is not None:
        if not (raw_length.isascii() and raw_length.isdigit()):
            raise HttpError(HTTPStatus.BAD_REQUEST, "bad Content-Length")
        content_length = int(raw_length)
        if content_length > MAX_BODY_BYTES:
            raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body too large")
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    keep_alive = "close" not in tokens if version == "HTTP/1.1" else "keep-alive" in tokens
    return _Head(method, target, version, headers, end + 4, content_length, chunked, keep_alive)


def _parse_chunked(buf: bytearray, pos: int) -> tuple[bytes, int] | None:
    """Decode a complete chunked body starting at ``pos``; ``None`` while it is incomplete."""
    body = bytearray()
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            if len(buf) - pos > 1024:
                raise HttpError(HTTPStatus.BAD_REQUEST, "bad chunk size line")
            return None
        size_text = bytes(buf[pos:eol]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise HttpError(HTTPStatus.BAD_REQUEST, "bad chunk size") from None
        if size < 0 or len(body) + size > MAX_BODY_BYTES:
            raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body too large")
        pos = eol + 2
        if size == 0:
            trailer_end = buf.find(b"\r\n\r\n", pos - 2)
            return (bytes(body), trailer_end + 4) if trailer_end >= 0 else None
        if len(buf) < pos + size + 2:
            return None
        if buf[pos + size : pos + size + 2] != b"\r\n":
            raise HttpError(HTTPStatus.BAD_REQUEST, "chunk not followed by CRLF")
        body += buf[pos : pos + size]
        pos += size + 2


def _split_target(target: str) -> tuple[str, str]:
    if not target.startswith("/"):  # absolute-form, as proxies send it
        parts = urlsplit(target)
        return parts.path or "/", parts.query
    path, _, query = target.partition("?")
    return path, query


class _Connection(asyncio.Protocol):
    __slots__ = ("_buf", "_head", "_server", "_task", "_transport", "busy", "last_active")

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._buf = bytearray()
        self._head: _Head | None = None
        self._transport: asyncio.Transport | None = None
        self._task: asyncio.Task[None] | None = None
        self.busy = False
        self.last_active = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self.last_active = self._server.now()
        self._server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._server.connections.discard(self)
        if self._task is not None:
            self._task.cancel()  # a hang or a delayed answer nobody waits for any more

    def data_received(self, data: bytes) -> None:
        self._buf += data
        self.last_active = self._server.now()
        if not self.busy:
            self._process()
        elif len(self._buf) > MAX_HEAD_BYTES + MAX_BODY_BYTES and self._transport is not None:
            self._transport.pause_reading()  # a client pipelining far ahead: push back

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _process(self) -> None:
        while self._transport is not None and not self.busy and self._buf:
            try:
                parsed = self._next_request()
            except HttpError as exc:
                self._write(_error_response(exc), keep_alive=False, head_only=False, v10=False)
                return
            if parsed is None:
                return
            request, head = parsed
            response = self._server.dispatch(request)
            head_only = request.method == "HEAD"
            v10 = head.version == "HTTP/1.0"
            if response.delay <= 0 and not response.hang and response.trickle <= 0:
                self._write(response, head.keep_alive, head_only, v10)
                continue
            self.busy = True
            self._task = asyncio.get_running_loop().create_task(
                self._answer_later(response, head.keep_alive, head_only, v10)
            )

    def _next_request(self) -> tuple[Request, _Head] | None:
        head = self._head
        if head is None:
            head = self._head = _parse_head(self._buf)
            if head is None:
                return None
        if head.chunked:
            decoded = _parse_chunked(self._buf, head.length)
            if decoded is None:
                self._maybe_continue(head)
                return None
            body, end = decoded
        else:
            end = head.length + head.content_length
            if len(self._buf) < end:
                self._maybe_continue(head)
                return None
            body = bytes(self._buf[head.length : end])
        del self._buf[:end]
        self._head = None
        path, query = _split_target(head.target)
        return Request(head.method, path, query, head.headers, body), head

    def _maybe_continue(self, head: _Head) -> None:
        if not head.continue_sent and head.headers.get("expect", "").lower() == "100-continue":
            head.continue_sent = True
            if self._transport is not None:
                self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    async def _answer_later(
        self, response: Response, keep_alive: bool, head_only: bool, v10: bool
    ) -> None:
        if response.hang:
            await asyncio.get_running_loop().create_future()  # until cancelled
        await asyncio.sleep(response.delay)
        if response.trickle > 0:
            data = self._encode(response, keep_alive, head_only, v10)
            for i in range(len(data)):
                if self._transport is None:
                    return
                self._transport.write(data[i : i + 1])
                await asyncio.sleep(response.trickle)
            if not keep_alive and self._transport is not None:
                self._transport.close()
                self._transport = None
        self._task = None
        self.busy = False
        if self._transport is None:
            return
        if response.trickle <= 0:
            self._write(response, keep_alive, head_only, v10)
        if self._transport is not None:
            self.last_active = self._server.now()
            if not self._transport.is_reading():
                self._transport.resume_reading()
            self._process()

    def _write(self, response: Response, keep_alive: bool, head_only: bool, v10: bool) -> None:
        transport = self._transport
        if transport is None:
            return
        transport.write(self._encode(response, keep_alive, head_only, v10))
        if not keep_alive:
            transport.close()
            self._transport = None

    def _encode(self, response: Response, keep_alive: bool, head_only: bool, v10: bool) -> bytes:
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [
            f"HTTP/1.1 {response.status} {reason}",
            "Server: fake-gateway",
            f"Date: {self._server.date}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}",
        ]
        lines.extend(f"{name}: {value}" for name, value in response.headers)
        if not keep_alive:
            lines.append("Connection: close")
        elif v10:
            lines.append("Connection: keep-alive")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if head_only else head + response.body


def _error_response(exc: HttpError) -> Response:
    return Response(status=exc.status, body=f"{exc}\n".encode())


class HttpServer:
    """Serves ``handler`` on one socket; start with ``await start()``, stop with ``close()``."""

    def __init__(self, handler: Handler, *, idle_timeout: float = IDLE_TIMEOUT_S) -> None:
        self._handler = handler
        self._idle_timeout = idle_timeout
        self._server: asyncio.Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.connections: set[_Connection] = set()
        self.date = formatdate(usegmt=True)

    def now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    def dispatch(self, request: Request) -> Response:
        try:
            return self._handler(request)
        except Exception:  # a sandbox bug must not kill the connection loop
            log.exception("handler failed for %s %s", request.method, request.path)
            return Response(status=500, body=b"internal sandbox error\n")

    async def start(self, host: str, port: int) -> int:
        """Bind and listen; returns the actual port (useful with port 0)."""
        self._loop = asyncio.get_running_loop()
        self._server = await self._loop.create_server(
            lambda: _Connection(self), host, port, backlog=4096, reuse_address=True
        )
        self._ticker = self._loop.create_task(self._tick())
        sockname = self._server.sockets[0].getsockname()
        return int(sockname[1])

    async def _tick(self) -> None:
        """Once a second: refresh the cached Date header and drop idle keep-alive connections."""
        while True:
            await asyncio.sleep(1.0)
            self.date = formatdate(usegmt=True)
            deadline = self.now() - self._idle_timeout
            for conn in [c for c in self.connections if not c.busy and c.last_active < deadline]:
                conn.close()

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            conn.close()
        if self._server is not None:
            await self._server.wait_closed()
        await asyncio.sleep(0)  # let connection_lost callbacks cancel pending answers
