"""The sandbox pushes delivery statuses the way the platform does.

Each status change (a message reaching its final status) is POSTed to the push URL as
``<state id_sms time>STATUS</state>`` elements, many per request when they fall due together.
The receiver answers ``<response><id_sms>ID</id_sms>...</response>``; every id it leaves out is
sent again later, with a growing pause, up to ``MAX_RETRIES`` times, then given up.

Bookkeeping runs on the sandbox's event loop (so the engine needs no locks); only the blocking
HTTP POST runs in the loop's default executor. The URL comes from ``--push-url`` or from a
``get_state.php`` ``type="set"`` request, as on the real platform.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from worker.dev.sandbox import wire
from worker.dev.sandbox.config import SandboxConfig
from worker.dev.sandbox.engine import Engine

__all__ = ["MAX_RETRIES", "Pusher", "acknowledged", "start_pusher"]

log = logging.getLogger(__name__)

MAX_RETRIES = 5
BATCH = 200
TIMEOUT = (3.0, 10.0)
MAX_ACK_BYTES = 1024 * 1024


@dataclass(order=True, slots=True)
class _Due:
    at: float
    seq: int
    id_sms: str = field(compare=False)
    line: str = field(compare=False)  # the <state> element
    attempt: int = field(compare=False, default=0)


def acknowledged(body: bytes) -> set[str]:
    """The ids a receiver's answer lists; anything unreadable acknowledges nothing."""
    if len(body) > MAX_ACK_BYTES:
        return set()
    try:
        root = wire.parse_answer(body)
    except wire.BadXml:
        return set()
    return {(e.text or "").strip() for e in root.iterfind("id_sms")}


class Pusher:
    def __init__(
        self,
        stats: Callable[[], dict[str, int]],
        url: str | None,
        retry_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._stats = stats
        self._clock = clock
        self.url = url or None
        self._retry = retry_seconds
        self._heap: list[_Due] = []
        self._seq = itertools.count()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run on the current event loop until it stops."""
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sandbox-push")

    def set_url(self, url: str | None) -> None:
        self.url = url or None
        log.info("push URL %s", "set" if self.url else "cleared")

    def track(self, id_sms: str, at: float, line: str) -> None:
        """Push ``line`` (a ``<state>`` element) at epoch time ``at``; loop thread only."""
        if self.url is None:
            return
        heapq.heappush(self._heap, _Due(at, next(self._seq), id_sms, line))
        if self._wake is not None and self._heap[0].at == at:
            self._wake.set()

    def _count(self, name: str, n: int = 1) -> None:
        stats = self._stats()  # the engine's counters, replaced on a sandbox reset
        stats[name] = stats.get(name, 0) + n

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            delay = self._heap[0].at - self._clock() if self._heap else None
            if delay is None or delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
                continue
            now = self._clock()
            batch: list[_Due] = []
            while self._heap and self._heap[0].at <= now and len(batch) < BATCH:
                batch.append(heapq.heappop(self._heap))
            await self._post(batch)

    async def _post(self, batch: list[_Due]) -> None:
        url = self.url
        if url is None:  # switched off meanwhile: drop, as the platform would
            return
        body = wire.answer(*(due.line for due in batch))
        self._count("push_posts")
        self._count("push_states", len(batch))
        acked: set[str] = set()
        try:
            answer = await asyncio.get_running_loop().run_in_executor(None, _post, url, body)
        except requests.RequestException as exc:
            self._count("push_errors")
            log.info("push of %d states failed: %s", len(batch), type(exc).__name__)
        else:
            if answer is None:
                self._count("push_errors")
            else:
                acked = acknowledged(answer)
        now = self._clock()
        for due in batch:
            if due.id_sms in acked:
                self._count("push_acked")
            elif due.attempt >= MAX_RETRIES:
                self._count("push_given_up")
                log.info("push of %s given up after %d retries", due.id_sms, MAX_RETRIES)
            else:
                self._count("push_retries")
                due.attempt += 1
                due.at = now + self._retry * 2 ** (due.attempt - 1)
                due.seq = next(self._seq)
                heapq.heappush(self._heap, due)


def _post(url: str, body: bytes) -> bytes | None:
    """One POST; the answer body when 2xx, None otherwise."""
    response = requests.post(
        url, data=body, headers={"Content-Type": wire.CONTENT_TYPE}, timeout=TIMEOUT
    )
    if not 200 <= response.status_code < 300:
        return None
    return response.content[: MAX_ACK_BYTES + 1]


def start_pusher(
    engine: Engine, config: SandboxConfig, clock: Callable[[], float] = time.time
) -> Pusher:
    """Wire a pusher to ``engine`` on the running loop (idle until a push URL is set); it reads
    the engine's ``clock``, since the times it is handed come from there."""
    pusher = Pusher(lambda: engine.stats, None, config.push_retry_ms / 1000, clock)

    def set_url(url: str | None) -> None:
        pusher.set_url(url)
        engine.on_change = pusher.track if pusher.url else None  # no cost per send when off

    set_url(config.push_url)
    engine.on_push_url = set_url
    pusher.start()
    return pusher
