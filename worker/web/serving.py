"""One HTTP server for the push receiver, the metrics exporter and the example app.

waitress reads every request in its single event loop and hands only complete requests to a
fixed pool of threads, so a slow client never holds a thread. It has no deadline for a request
that keeps trickling (its ``channel_timeout`` only cuts silent connections) and, at its
connection limit, it stops accepting, so slow clients would hold the slots real clients need.
``_DeadlineServer`` adds both: a request whose headers (or whole body) have not arrived within
the deadline is closed, however steadily it trickles, and at the connection limit the channel
that has been waiting longest for its request is evicted to make room for the new one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

__all__ = ["API_LIMITS", "METRICS_LIMITS", "PUSH_LIMITS", "WEB_LIMITS", "ServerLimits", "serve"]

log = logging.getLogger("targetsms.serving")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """What one client may hold of a server, and for how long."""

    threads: int = 4  # the application's threads (requests served at once)
    connection_limit: int = 256  # open client sockets; past it the longest-waiting is evicted
    header_seconds: float = 10.0  # first byte of a request to the end of its headers
    request_seconds: float = 30.0  # first byte of a request to the end of its body
    idle_seconds: int = 30  # a connection with no request in progress and no byte received
    max_header_bytes: int = 16 * 1024
    max_body_bytes: int = 1024 * 1024

    def __post_init__(self) -> None:
        if self.threads < 1 or self.connection_limit < 1:
            raise ValueError("threads and connection_limit must be at least 1")
        if not 0 < self.header_seconds <= self.request_seconds:
            raise ValueError("need 0 < header_seconds <= request_seconds")


# The push receiver answers in milliseconds; the platform retries what we did not acknowledge.
PUSH_LIMITS = ServerLimits(threads=4, connection_limit=256, max_body_bytes=1024 * 1024)
# The HTTP API: the push receiver's deadlines and connection cap; more threads, since each
# request waits on Redis and, for a send, the broker. Bodies are capped at 16 KiB by the app
# itself (a JSON 413); this cap is only the server's backstop.
API_LIMITS = ServerLimits(threads=8, connection_limit=256, max_body_bytes=64 * 1024)
# One Prometheus scrape at a time is the norm; a scrape reads Redis and the broker (~3 s cap).
METRICS_LIMITS = ServerLimits(threads=2, connection_limit=64, max_body_bytes=4096)
# The example web app: pages, form posts, and live-status streams (each holds a thread for
# up to 25 s, hence more threads).
WEB_LIMITS = ServerLimits(threads=32, connection_limit=512, max_body_bytes=64 * 1024)


class _DeadlineChannel(HTTPChannel):  # type: ignore[misc]
    """A channel that knows since when it has been waiting for its current request."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waiting_since: float = time.monotonic()

    def received(self, data: bytes) -> bool:
        if self.request is None and not self.requests:
            self.waiting_since = time.monotonic()  # the first byte of a new request
        return bool(super().received(data))

    def service(self) -> None:
        super().service()
        self.waiting_since = time.monotonic()  # answered: the next request starts now

    def overdue(self, now: float, limits: ServerLimits) -> bool:
        """Still reading a request that has had its time (a served one is never cut)."""
        if self.requests or self.request is None:
            return False
        waited = now - self.waiting_since
        if not self.request.headers_finished:
            return waited > limits.header_seconds
        return waited > limits.request_seconds

    def evictable(self) -> bool:
        return not self.requests and not self.will_close


class _DeadlineServer(TcpWSGIServer):  # type: ignore[misc]
    channel_class = _DeadlineChannel

    def __init__(self, app: WSGIApp, limits: ServerLimits, **kwargs: Any) -> None:
        self.limits = limits
        super().__init__(app, **kwargs)

    def _channels(self) -> list[_DeadlineChannel]:
        return [c for c in self._map.values() if isinstance(c, _DeadlineChannel)]

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # silent connections: channel_timeout
        clock = time.monotonic()
        for channel in self._channels():
            if not channel.will_close and channel.overdue(clock, self.limits):
                channel.will_close = True

    def readable(self) -> bool:
        channels = self._channels()
        closing = sum(1 for c in channels if c.will_close)
        excess = len(channels) - closing - self.limits.connection_limit + 1
        if self.accepting and excess > 0:
            waiting = sorted((c for c in channels if c.evictable()), key=lambda c: c.waiting_since)
            for channel in waiting[:excess]:
                channel.will_close = True
        return bool(super().readable())


def _adjustments(host: str, port: int, limits: ServerLimits) -> Adjustments:
    return Adjustments(
        host=host,
        port=port,
        threads=limits.threads,
        # waitress counts its own listening socket and wake-up pipe in the map.
        connection_limit=limits.connection_limit + 2,
        channel_timeout=limits.idle_seconds,
        cleanup_interval=1,
        max_request_header_size=limits.max_header_bytes,
        max_request_body_size=limits.max_body_bytes,
        asyncore_use_poll=True,  # select() stops at 1,024 descriptors
        ident="",
        expose_tracebacks=False,
    )


def _guarded(app: WSGIApp, name: str) -> WSGIApp:
    """A 500 for an unexpected error, logged by type only: waitress would log the request path,
    and the push receiver's path is its secret."""

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            return app(environ, start_response)
        except Exception as exc:
            log.error("%s: unexpected %s", name, type(exc).__name__)
            body = b"internal error\n"
            start_response(
                "500 Internal Server Error",
                [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
            )
            return [body]

    return guarded


class Server:
    """A bound server: ``url`` is known before ``run`` (port 0 picks a free one)."""

    def __init__(self, app: WSGIApp, host: str, port: int, limits: ServerLimits, name: str):
        self.limits = limits
        self._map: dict[int, Any] = {}
        self._dispatcher = ThreadedTaskDispatcher()
        self._dispatcher.set_thread_count(limits.threads)
        self._server = _DeadlineServer(
            _guarded(app, name),
            limits,
            map=self._map,
            dispatcher=self._dispatcher,
            adj=_adjustments(host, port, limits),
        )
        host = self._server.effective_host
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self._server.effective_port}"

    def run(self, should_stop: Callable[[], bool] = lambda: False) -> None:
        """Serve until ``should_stop()`` (checked about once a second) or KeyboardInterrupt."""
        try:
            while not should_stop():
                wasyncore.loop(timeout=1.0, map=self._map, use_poll=True, count=1)
        except KeyboardInterrupt:
            pass
        finally:
            self.close()

    def close(self) -> None:
        wasyncore.close_all(self._map)
        self._dispatcher.shutdown(timeout=5)


def serve(
    app: WSGIApp, host: str, port: int, limits: ServerLimits, *, name: str = "http"
) -> Server:
    """Bind ``app`` on host:port with ``limits``; call ``run()`` on the result. Raises OSError
    when the address cannot be bound."""
    return Server(app, host, port, limits, name)
