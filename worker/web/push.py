"""Push receiver: the platform POSTs delivery statuses to us instead of waiting to be polled.

Each pushed ``<state>`` goes through the same Store step as a polled one, so a push and a poll
can race harmlessly: repeated statuses change nothing, a final status stops polling, an id we do
not know (another app on the account, a record long gone) is acknowledged and ignored. The only
thing that withholds an acknowledgement is a Redis we cannot reach: the platform then sends the
same states again (up to 5 times), so nothing is lost to a blink.

The platform signs nothing, so the secret is the URL itself: ``/targetsms/state/<token>`` with a
long random ``TARGETSMS_PUSH_TOKEN``, compared in constant time; every other path is a 404 and
the path never reaches a log line. ``PushReceiver`` is the HTTP-free core; ``wsgi_app()`` and
``asgi_app()`` mount it in a web application; ``serve()`` backs ``targetsms push-receiver``
(waitress, with the deadlines and connection cap of worker/web/serving.py).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any

from worker.core.secrets import MIN_TOKEN_CHARS, token_problem
from worker.errors import GatewayError
from worker.http.urls import url_problem
from worker.providers.targetsms.protocol import MAX_PUSH_BYTES, build_push_ack, parse_push
from worker.store import StoreUnavailable

if TYPE_CHECKING:
    from worker.settings import GatewaySettings

__all__ = [
    "DEFAULT_PORT",
    "MIN_TOKEN_CHARS",
    "PATH_PREFIX",
    "PushASGIApp",
    "PushAnswer",
    "PushReceiver",
    "PushWSGIApp",
    "asgi_app",
    "push_url_problem",
    "serve",
    "token_problem",
    "wsgi_app",
]

log = logging.getLogger("targetsms.push")

PATH_PREFIX = "/targetsms/state/"
DEFAULT_PORT = 8098
_TEXT = "text/plain; charset=utf-8"
_XML = "text/xml; charset=utf-8"

Apply = Callable[[Sequence[tuple[str, str]]], list[str]]


def push_url_problem(url: str, gateway: GatewaySettings) -> str | None:
    """Why the platform could not push to ``url`` (so ``push-register`` refuses it), or None.

    The URL carries the token, so https unless TARGETSMS_ALLOW_HTTP (or a loopback host), and it
    must end in the receiver's path, or every push would be a 404."""
    problem = token_problem(gateway.push_token)
    if problem:
        return problem
    problem = url_problem(
        url, allow_http=gateway.allow_http, http_hint=", or TARGETSMS_ALLOW_HTTP=1"
    )
    if problem:
        return f"push URL {problem}"
    if not url.endswith(PATH_PREFIX + gateway.push_token):
        return f"push URL must end with {PATH_PREFIX}<TARGETSMS_PUSH_TOKEN>"
    return None


@dataclass(frozen=True, slots=True)
class PushAnswer:
    status: int
    body: bytes
    content_type: str = _TEXT
    headers: tuple[tuple[str, str], ...] = ()


def _text(status: int, line: str, *headers: tuple[str, str]) -> PushAnswer:
    return PushAnswer(status, (line + "\n").encode(), _TEXT, headers)


NOT_FOUND = _text(404, "not found")
TOO_LARGE = _text(413, f"push body larger than {MAX_PUSH_BYTES} bytes")


class PushReceiver:
    """The HTTP-free core: path check, parse, apply, acknowledgement."""

    def __init__(self, token: str, apply: Apply) -> None:
        problem = token_problem(token)
        if problem:
            raise ValueError(problem)
        self._path = (PATH_PREFIX + token).encode()
        self._apply = apply

    def __repr__(self) -> str:
        return "PushReceiver(path='/targetsms/state/***')"

    def path_ok(self, path: str) -> bool:
        return hmac.compare_digest(path.encode("utf-8", "surrogateescape"), self._path)

    def handle(self, method: str, path: str, body: bytes | None) -> PushAnswer:
        """One request; ``body`` None means it was over the size cap."""
        if not self.path_ok(path):
            return NOT_FOUND
        if method != "POST":
            return _text(405, "POST only", ("Allow", "POST"))
        if body is None:
            return TOO_LARGE
        try:
            entries = parse_push(body)
        except GatewayError as exc:
            log.info("push: refused (%s)", exc.message)
            return _text(400, exc.message)
        states = [(e.id_sms, e.status or "") for e in entries]
        try:
            accepted = self._apply(states)
        except StoreUnavailable as exc:
            # No id acknowledged: the platform sends them all again.
            log.warning(
                "push: %d states, 0 accepted (Redis unavailable: %s)",
                len(states),
                type(exc).__name__,
            )
            accepted = []
        except Exception as exc:  # a bug: say which, never the values
            log.error(
                "push: %d states, 0 accepted (unexpected %s)", len(states), type(exc).__name__
            )
            return _text(500, "internal error")
        else:
            log.info("push: %d states, %d accepted", len(states), len(accepted))
        return PushAnswer(200, build_push_ack(accepted), _XML)


def _receiver(token: str | None, apply: Apply | None) -> PushReceiver:
    if token is None or apply is None:
        from worker.runtime import get_runtime

        rt = get_runtime()
        token = rt.settings.gateway.push_token if token is None else token
        apply = rt.store.apply_pushed if apply is None else apply
    return PushReceiver(token, apply)


# --- WSGI --------------------------------------------------------------------------------------

StartResponse = Callable[..., Any]


class PushWSGIApp:
    """A WSGI application serving only ``POST /targetsms/state/<token>``."""

    def __init__(self, receiver: PushReceiver) -> None:
        self.receiver = receiver

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET"))
        path = str(environ.get("PATH_INFO", ""))
        body: bytes | None = b""
        if self.receiver.path_ok(path) and method == "POST":
            body = _read_wsgi_body(environ)
        answer = self.receiver.handle(method, path, body)
        headers = [
            ("Content-Type", answer.content_type),
            ("Content-Length", str(len(answer.body))),
            *answer.headers,
        ]
        start_response(f"{answer.status} {_REASONS[answer.status]}", headers)
        return [answer.body]


def _read_wsgi_body(environ: dict[str, Any]) -> bytes | None:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_PUSH_BYTES:
        return None
    stream = environ["wsgi.input"]
    chunks: list[bytes] = []
    left = length
    while left > 0:
        chunk = stream.read(min(left, 65536))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    500: "Internal Server Error",
}


def wsgi_app(*, token: str | None = None, apply: Apply | None = None) -> PushWSGIApp:
    """The receiver as WSGI; by default the token and Store come from the environment."""
    return PushWSGIApp(_receiver(token, apply))


# --- ASGI --------------------------------------------------------------------------------------

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class PushASGIApp:
    """An ASGI application serving only ``POST /targetsms/state/<token>``.

    The Store step is blocking Redis I/O, so it runs in a worker thread, off the event loop."""

    def __init__(self, receiver: PushReceiver) -> None:
        self.receiver = receiver

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        method, path = str(scope.get("method", "GET")), str(scope.get("path", ""))
        body: bytes | None = b""
        if self.receiver.path_ok(path) and method == "POST":
            body = await _read_asgi_body(receive)
        answer = await asyncio.to_thread(self.receiver.handle, method, path, body)
        headers = [
            (b"content-type", answer.content_type.encode()),
            (b"content-length", str(len(answer.body)).encode()),
            *((k.lower().encode(), v.encode()) for k, v in answer.headers),
        ]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})


async def _read_asgi_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)  # client went away
        chunk = bytes(message.get("body", b""))
        size += len(chunk)
        if size > MAX_PUSH_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def asgi_app(*, token: str | None = None, apply: Apply | None = None) -> PushASGIApp:
    """The receiver as ASGI; by default the token and Store come from the environment."""
    return PushASGIApp(_receiver(token, apply))


# --- the CLI's server --------------------------------------------------------------------------

BANNER = "push-receiver listening on {url} (POST {prefix}<TARGETSMS_PUSH_TOKEN>)"


def serve(app: PushWSGIApp, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> int:
    """Serve ``app`` until SIGINT/SIGTERM, within ``PUSH_LIMITS`` (worker/web/serving.py)."""
    from worker.web.serving import PUSH_LIMITS
    from worker.web.serving import serve as bind

    try:
        server = bind(app, host, port, PUSH_LIMITS, name="push")
    except OSError as exc:
        sys.stderr.write(f"targetsms: push-receiver cannot listen on {host}:{port}: {exc}\n")
        return 1

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(BANNER.format(url=server.url, prefix=PATH_PREFIX), flush=True)
    server.run()
    return 0
