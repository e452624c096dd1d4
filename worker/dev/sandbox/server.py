"""Configuration and lifecycle of the sandbox gateway: CLI flags, ``run`` (blocking, for the CLI)
and ``start_in_thread`` (for tests and benchmarks that need a gateway in-process).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType

from worker.dev.sandbox.config import SandboxConfig
from worker.dev.sandbox.engine import Engine
from worker.dev.sandbox.http import HttpServer
from worker.dev.sandbox.push import start_pusher
from worker.dev.sandbox.routes import Router

__all__ = [
    "RunningSandbox",
    "SandboxConfig",
    "run",
    "start_in_thread",
]

BANNER = "fake-gateway listening on {url}"


async def _start(
    config: SandboxConfig, clock: Callable[[], float] = time.time
) -> tuple[HttpServer, int]:
    engine = Engine(config, clock)
    server = HttpServer(Router(engine, config.latency_ms, config.trickle_ms))
    port = await server.start(config.host, config.port)
    start_pusher(engine, config, clock)  # stops with the loop
    return server, port


async def _serve(config: SandboxConfig) -> None:
    server, port = await _start(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
    print(BANNER.format(url=config.url_for(port)), flush=True)
    try:
        await stop.wait()
    finally:
        await server.close()


def _raise_fd_limit() -> None:
    """Hundreds of keep-alive clients need more descriptors than a typical soft limit of 1024."""
    with contextlib.suppress(ImportError, OSError, ValueError):
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run(config: SandboxConfig) -> int:
    """Serve until SIGINT/SIGTERM; 0 on a clean stop, 1 when the address cannot be bound."""
    _raise_fd_limit()
    if config.verbose:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        asyncio.run(_serve(config))
    except KeyboardInterrupt:  # signal handlers unavailable (e.g. not the main thread)
        return 0
    except OSError as exc:
        print(f"fake-gateway: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 1
    return 0


class RunningSandbox:
    """A sandbox serving from a daemon thread; ``stop()`` (or leaving ``with``) shuts it down."""

    def __init__(
        self,
        config: SandboxConfig,
        port: int,
        loop: asyncio.AbstractEventLoop,
        stop_event: asyncio.Event,
        thread: threading.Thread,
    ) -> None:
        self.config = config
        self.port = port
        self.url = config.url_for(port)
        self._loop = loop
        self._stop_event = stop_event
        self._thread = thread

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # loop already closed
                self._loop.call_soon_threadsafe(self._stop_event.set)
            self._thread.join(timeout)

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RunningSandbox(url={self.url!r})"


def start_in_thread(
    config: SandboxConfig, clock: Callable[[], float] = time.time
) -> RunningSandbox:
    """Start serving on a daemon thread; returns once the socket is listening.

    ``clock`` (epoch seconds) decides when messages change status and when the duplicate
    window ends, so a test moves it by hand instead of sleeping; the sockets keep real time."""
    ready = threading.Event()
    started: list[RunningSandbox] = []
    failure: list[BaseException] = []

    async def main() -> None:
        try:
            server, port = await _start(config, clock)
        except BaseException as exc:
            failure.append(exc)
            ready.set()
            return
        stop_event = asyncio.Event()
        started.append(
            RunningSandbox(
                config, port, asyncio.get_running_loop(), stop_event, threading.current_thread()
            )
        )
        ready.set()
        try:
            await stop_event.wait()
        finally:
            await server.close()

    def serve() -> None:
        asyncio.run(main())

    thread = threading.Thread(target=serve, name="fake-gateway", daemon=True)
    thread.start()
    if not ready.wait(timeout=10.0):
        raise RuntimeError("sandbox did not start within 10 s")
    if failure:
        raise failure[0]
    return started[0]
