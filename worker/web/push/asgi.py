"""The push receiver as an ASGI application."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from worker.providers.targetsms.protocol import MAX_PUSH_BYTES
from worker.web.push.receiver import Apply, PushReceiver, build_receiver

__all__ = ["PushASGIApp", "asgi_app"]

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
    return PushASGIApp(build_receiver(token, apply))
