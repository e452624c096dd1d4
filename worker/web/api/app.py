"""The HTTP API as a WSGI application, and ``targetsms api``'s server.

``wsgi_app()`` mounts it in any WSGI stack (it answers only its own paths: ``/v1/...`` and
``/openapi.json``); ``serve()`` runs it on waitress within the push receiver's deadlines and
connection cap (worker/web/serving.py), so a slow client never holds one of its threads.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

from worker.runtime import Runtime, get_runtime
from worker.web.api.answers import REASONS
from worker.web.api.bodies import MAX_BODY_BYTES
from worker.web.api.routes import ApiRequest, VerificationsApi

__all__ = ["DEFAULT_PORT", "ApiWSGIApp", "serve", "wsgi_app"]

DEFAULT_PORT = 8097

StartResponse = Callable[..., Any]


class ApiWSGIApp:
    def __init__(self, api: VerificationsApi) -> None:
        self.api = api

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        request = ApiRequest(
            method=method,
            path=str(environ.get("PATH_INFO", "")),
            authorization=environ.get("HTTP_AUTHORIZATION"),
            idempotency_key=environ.get("HTTP_IDEMPOTENCY_KEY"),
            body=_read_body(environ) if method == "POST" else b"",
        )
        answer = self.api.handle(request)
        headers = [
            ("Content-Type", answer.content_type),
            ("Content-Length", str(len(answer.body))),
            ("Cache-Control", "no-store"),
            *answer.headers,
        ]
        start_response(f"{answer.status} {REASONS.get(answer.status, 'Error')}", headers)
        return [b"" if method == "HEAD" else answer.body]


def _read_body(environ: dict[str, Any]) -> bytes | None:
    """The body, or None past ``MAX_BODY_BYTES`` (read no further: a 413)."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        return None
    stream = environ["wsgi.input"]
    chunks: list[bytes] = []
    left = max(length, 0)
    while left > 0:
        chunk = stream.read(min(left, 65536))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def wsgi_app(*, runtime: Runtime | None = None) -> ApiWSGIApp:
    """The API as WSGI; by default on the process-wide runtime (settings from the environment)."""
    return ApiWSGIApp(VerificationsApi(runtime if runtime is not None else get_runtime()))


BANNER = "api listening on {url} (POST /v1/verifications, GET /openapi.json)"


def serve(
    app: ApiWSGIApp,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    on_start: Callable[[], None] | None = None,
) -> int:
    """Serve ``app`` until SIGINT/SIGTERM within ``API_LIMITS`` (worker/web/serving.py)."""
    from worker.web.serving import API_LIMITS
    from worker.web.serving import serve as bind

    try:
        server = bind(app, host, port, API_LIMITS, name="api")
    except OSError as exc:
        sys.stderr.write(f"targetsms: api cannot listen on {host}:{port}: {exc}\n")
        return 1

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    if on_start is not None:
        on_start()
    print(BANNER.format(url=server.url), flush=True)
    server.run()
    return 0
