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
from worker.web.api.bodies import MAX_BODY_BYTES
from worker.web.api.routes import ApiRequest, VerificationsApi
from worker.web.wsgi import read_body, status_line

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
            body=read_body(environ, MAX_BODY_BYTES) if method == "POST" else b"",
        )
        answer = self.api.handle(request)
        headers = [
            ("Content-Type", answer.content_type),
            ("Content-Length", str(len(answer.body))),
            ("Cache-Control", "no-store"),
            *answer.headers,
        ]
        start_response(status_line(answer.status), headers)
        return [b"" if method == "HEAD" else answer.body]


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
