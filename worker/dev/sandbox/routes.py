"""Maps HTTP requests to the imitated gateway: the real API paths plus sandbox-only JSON views.

API answers are HTTP 200 even for ``<error>`` (the real gateway does the same); faults turn into
a hang, an HTTP 502 HTML page, a truncated body or an answer trickled out byte by byte here.
``--latency-ms`` applies to API paths only, never to the sandbox's own endpoints, so tests can
inspect state without waiting.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from urllib.parse import parse_qs

from worker.dev.sandbox.engine import Answer, Engine
from worker.dev.sandbox.http import Request, Response
from worker.dev.sandbox.magic import Fault
from worker.dev.sandbox.wire import CONTENT_TYPE, MALFORMED_BODY

__all__ = ["Router"]

log = logging.getLogger(__name__)

JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html"
BAD_GATEWAY_PAGE = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
NOT_FOUND_PAGE = (
    b"<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n"
    b"<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


def _json(
    payload: object, status: int = 200, headers: tuple[tuple[str, str], ...] = ()
) -> Response:
    body = json.dumps(payload, ensure_ascii=False).encode()
    return Response(status=status, body=body, content_type=JSON_TYPE, headers=headers)


def _phone_filter(query: str) -> str | None:
    values = parse_qs(query).get("phone")
    if not values:
        return None
    phone = values[0]
    # An unencoded "+" arrives as a space after form decoding; put it back.
    return "+" + phone.lstrip() if phone.startswith(" ") else phone


class Router:
    def __init__(self, engine: Engine, latency_ms: float, trickle_ms: float = 1000.0) -> None:
        self._engine = engine
        self._delay = latency_ms / 1000.0
        self._trickle = trickle_ms / 1000.0
        self._api: dict[str, Callable[[bytes], Answer]] = {
            "/password_generation/api.php": engine.password_generation,
            "/xml/state.php": engine.state,
            "/xml/balance.php": engine.balance,
            "/xml/get_state.php": engine.set_push_url,
        }

    def __call__(self, request: Request) -> Response:
        api = self._api.get(request.path)
        if api is not None:
            # Like the PHP original: anything but a POST body reads as "no POST data".
            answer = api(request.body if request.method == "POST" else b"")
            response = self._api_response(answer)
            if log.isEnabledFor(logging.INFO):
                log.info("%s %s -> %s", request.method, request.path, response.status)
            return response
        return self._sandbox(request)

    def _api_response(self, answer: Answer) -> Response:
        if answer.fault is Fault.HANG:
            return Response(status=200, hang=True)
        if answer.fault is Fault.HTML:
            return Response(502, BAD_GATEWAY_PAGE, HTML_TYPE, delay=self._delay)
        if answer.fault in (Fault.MALFORMED, Fault.LOST):
            return Response(200, MALFORMED_BODY, CONTENT_TYPE, delay=self._delay)
        if answer.fault is Fault.TRICKLE:  # the status line, headers and body alike
            return Response(200, answer.xml, CONTENT_TYPE, trickle=self._trickle)
        return Response(200, answer.xml, CONTENT_TYPE, delay=self._delay)

    def _sandbox(self, request: Request) -> Response:
        method, path = request.method, request.path
        allowed = {
            "/healthz": "GET",
            "/sandbox/outbox": "GET",
            "/sandbox/stats": "GET",
            "/sandbox/reset": "POST",
        }.get(path)
        if allowed is None:
            return Response(404, NOT_FOUND_PAGE, HTML_TYPE)
        if method != allowed and not (allowed == "GET" and method == "HEAD"):
            return _json({"error": "method not allowed"}, 405, (("Allow", allowed),))
        if path == "/healthz":
            return Response(200, b"ok")
        if path == "/sandbox/outbox":
            return _json({"messages": self._engine.outbox(_phone_filter(request.query))})
        if path == "/sandbox/stats":
            return _json(dict(self._engine.stats))
        self._engine.reset()
        log.info("sandbox reset")
        return _json({"reset": True})
