"""The push receiver as a WSGI application."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from worker.providers.targetsms.protocol import MAX_PUSH_BYTES
from worker.web.push.receiver import Apply, PushReceiver, build_receiver
from worker.web.wsgi import read_body, status_line

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
            body = read_body(environ, MAX_PUSH_BYTES)
        answer = self.receiver.handle(method, path, body)
        headers = [
            ("Content-Type", answer.content_type),
            ("Content-Length", str(len(answer.body))),
            *answer.headers,
        ]
        start_response(status_line(answer.status), headers)
        return [answer.body]


def wsgi_app(*, token: str | None = None, apply: Apply | None = None) -> PushWSGIApp:
    """The receiver as WSGI; by default the token and Store come from the environment."""
    return PushWSGIApp(build_receiver(token, apply))
