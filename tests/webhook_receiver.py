"""A site's webhook endpoint on loopback: records every POST (headers and body) it gets."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["Received", "receiving_webhooks"]


@dataclass
class Received:
    url: str
    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    answer: int = 204

    def types(self) -> list[str]:
        import json

        return [json.loads(body)["type"] for _, body in self.posts]


@contextlib.contextmanager
def receiving_webhooks() -> Iterator[Received]:
    received = Received(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(received.answer)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    received.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/targetsms"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()
