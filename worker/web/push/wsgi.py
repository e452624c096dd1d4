"""The push receiver as a WSGI application."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from worker.providers.targetsms.protocol import MAX_PUSH_BYTES
from worker.web.push.receiver import Apply, PushReceiver, build_receiver

__all__ = ["PushWSGIApp", "wsgi_app"]

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
    return PushWSGIApp(build_receiver(token, apply))
