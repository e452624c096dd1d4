"""One wall-clock limit for a whole HTTP call: connect, TLS, request, headers and body.

``requests`` (urllib3 underneath) only has per-phase timeouts: the read timeout bounds each
socket read, not the answer, so a peer that sends one byte every few seconds holds a call for
as long as it likes. Why a watchdog and not another transport: it keeps ``requests`` (its
pooling, TLS and proxy handling are what the rest of the code and the tests rely on) and costs
one heap entry per call instead of a thread. Each pooled connection registers its socket with
the call in progress on its thread; when the call's time is up, a single daemon thread shuts
those sockets down. A blocked ``recv`` then returns at once, urllib3 raises, the connection is
discarded rather than pooled, and the caller sees ``expired``. Name resolution is the one step
it cannot cut (the URLs we call are fixed hosts, resolved in milliseconds).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

__all__ = ["CallDeadline", "call_deadline", "watched_session"]


class CallDeadline:
    """The limit of one call in progress; ``expired`` once the watchdog has cut it."""

    __slots__ = ("_lock", "_sockets", "connected", "done", "expired", "when")

    def __init__(self, when: float) -> None:
        self.when = when
        self.expired = False
        self.done = False
        self.connected = False  # a socket was in use: the request may have reached the peer
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self.connected = True
            if self.expired:
                _cut(sock)
            elif not self.done:
                self._sockets.append(sock)

    def fire(self) -> None:
        with self._lock:
            if self.done:
                return
            self.expired = True
            for sock in self._sockets:
                _cut(sock)
            self._sockets.clear()

    def finish(self) -> None:
        with self._lock:
            self.done = True
            self._sockets.clear()


def _cut(sock: socket.socket) -> None:
    # The plain socket's shutdown, also for an SSLSocket: its own override would drop the TLS
    # object under a read in progress on another thread; the fd shutdown wakes that read.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread per process, sleeping until the earliest deadline."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, CallDeadline]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, call: CallDeadline) -> None:
        with self._cond:
            heapq.heappush(self._heap, (call.when, next(self._seq), call))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="http-deadline", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is call:
                self._cond.notify()

    def _run(self) -> None:
        while True:
            due: list[CallDeadline] = []
            with self._cond:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)  # finished in time: nothing to cut
                if not self._heap:
                    self._cond.wait(30.0)
                    continue
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    due.append(heapq.heappop(self._heap)[2])
                if not due:
                    self._cond.wait(self._heap[0][0] - now)
                    continue
            for call in due:
                call.fire()

    def reset_after_fork(self) -> None:
        self._cond = threading.Condition()
        self._heap = []
        self._thread = None


_watchdog = _Watchdog()
os.register_at_fork(after_in_child=_watchdog.reset_after_fork)
_local = threading.local()


@contextlib.contextmanager
def call_deadline(seconds: float) -> Iterator[CallDeadline]:
    """Every socket a watched session uses on this thread inside the block is cut after
    ``seconds``; check ``expired`` when the call fails (or returns) to tell why."""
    call = CallDeadline(time.monotonic() + max(seconds, 0.0))
    previous = getattr(_local, "call", None)
    _local.call = call
    _watchdog.arm(call)
    try:
        yield call
    finally:
        call.finish()
        _local.call = previous


def _watch(sock: Any) -> None:
    call: CallDeadline | None = getattr(_local, "call", None)
    if call is not None and isinstance(sock, socket.socket):
        call.watch(sock)


class _WatchedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)  # before TLS: a dribbled handshake is cut too
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self.sock)  # a pooled keep-alive connection, reused
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self.sock)
        super().request(*args, **kwargs)


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def watched_session(*, pool_size: int = 32, verify: bool | str = True) -> requests.Session:
    """A pooled session whose calls ``call_deadline`` can cut; no retries of its own (the
    caller knows the deadline), no proxies or ``.netrc`` from the environment."""
    session = requests.Session()
    adapter = _WatchedAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.verify = verify
    session.trust_env = False
    return session
