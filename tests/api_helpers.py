"""The HTTP API on a real loopback server, and keys made as `targetsms api-key create` does."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

from worker.core.api_keys import ApiKey, key_digest, new_api_key, new_webhook_secret
from worker.runtime import Runtime
from worker.web.api import wsgi_app
from worker.web.serving import API_LIMITS, serve

__all__ = ["make_key", "serving_api"]


@contextlib.contextmanager
def serving_api(rt: Runtime) -> Iterator[str]:
    """The API of ``rt`` on the server `targetsms api` uses; yields its base URL."""
    server = serve(wsgi_app(runtime=rt), "127.0.0.1", 0, API_LIMITS, name="api")
    done = threading.Event()
    thread = threading.Thread(target=server.run, args=(done.is_set,), daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        done.set()
        # The server checks ``done`` between polls of up to a second; a connection ends the poll.
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", urlsplit(server.url).port), timeout=1).close()
        thread.join(10)


def make_key(
    rt: Runtime,
    name: str,
    *,
    per_hour: int = 200,
    per_day: int = 2000,
    webhook_url: str | None = None,
) -> tuple[str, str | None]:
    """(the key, the webhook secret or None), stored as the CLI stores them."""
    key, secret = new_api_key(), new_webhook_secret() if webhook_url else None
    stored = ApiKey(
        name=name,
        digest=key_digest(key),
        per_hour=per_hour,
        per_day=per_day,
        created_at=int(time.time() * 1000),
        webhook_url=webhook_url,
        webhook_secret=secret,
    )
    assert rt.store.create_api_key(stored)
    return key, secret
