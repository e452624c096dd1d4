"""Configuration and lifecycle of the sandbox gateway: CLI flags, ``run`` (blocking, for the CLI)
and ``start_in_thread`` (for tests and benchmarks that need a gateway in-process).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from types import TracebackType

from worker.dev.sandbox.config import SandboxConfig
from worker.dev.sandbox.engine import Engine
from worker.dev.sandbox.http import HttpServer
from worker.dev.sandbox.push import start_pusher
from worker.dev.sandbox.routes import Router

__all__ = [
    "DEFAULT_CLI_PORT",
    "RunningSandbox",
    "SandboxConfig",
    "add_arguments",
    "config_from_args",
    "run",
    "start_in_thread",
]

DEFAULT_CLI_PORT = 8099
BANNER = "fake-gateway listening on {url}"


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be a fraction in 0..1")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _positive(text: str) -> float:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def _money(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError("must be a non-negative number")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sandbox's flags, for ``python -m worker.dev.sandbox`` and ``targetsms fake-gateway``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_CLI_PORT, help="port (default 8099; 0 = any free)"
    )
    # From the environment by default, so a password need not be on the command line (`ps`).
    parser.add_argument(
        "--login",
        default=os.environ.get("TARGETSMS_LOGIN") or None,
        help="accepted login (default: TARGETSMS_LOGIN, else any non-empty)",
    )
    parser.add_argument(
        "--password",
        default=os.environ.get("TARGETSMS_PASSWORD") or None,
        help="accepted password (default: TARGETSMS_PASSWORD, else any non-empty)",
    )
    parser.add_argument(
        "--latency-ms", type=_non_negative, default=0.0, help="delay added to every API answer"
    )
    parser.add_argument(
        "--deliver-after-ms",
        type=_non_negative,
        default=2000.0,
        help="time from send to the final status (default 2000)",
    )
    parser.add_argument(
        "--balance", type=_money, default=Decimal("1000.00"), help="starting balance, RUR"
    )
    faults = parser.add_argument_group(
        "fault injection", "fractions of valid password_generation requests (ordinary phones)"
    )
    faults.add_argument("--connection-error-rate", type=_rate, default=0.0, metavar="F")
    faults.add_argument("--hang-rate", type=_rate, default=0.0, metavar="F")
    faults.add_argument("--html-rate", type=_rate, default=0.0, metavar="F")
    faults.add_argument("--malformed-rate", type=_rate, default=0.0, metavar="F")
    parser.add_argument("--seed", type=int, help="seed for codes, ids and faults (reproducible)")
    parser.add_argument(
        "--max-messages",
        type=int,
        default=100_000,
        help="messages remembered for state/outbox; the oldest are forgotten (default 100000)",
    )
    parser.add_argument(
        "--no-duplicate-window",
        action="store_true",
        help="accept identical requests within a minute (the platform refuses them)",
    )
    parser.add_argument(
        "--trickle-ms",
        type=_positive,
        default=1000.0,
        help="pace of the trickling magic numbers' answers, ms per byte (default 1000)",
    )
    parser.add_argument(
        "--state-batch-error",
        action="store_true",
        help="answer a state batch holding an unknown id with one request-level <error> "
        "(default: a per-id <error>; the platform's shape is not confirmed)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every API request")
    parser.add_argument(
        "--push-url", help="POST each status change here, retrying unacknowledged ids 5 times"
    )
    parser.add_argument(
        "--push-retry-ms",
        type=_non_negative,
        default=500.0,
        help="pause before the first push retry, doubled each time (default 500)",
    )


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    """Build the config; an inconsistent combination exits 2 with a one-line message."""
    try:
        return SandboxConfig(
            host=args.host,
            port=args.port,
            login=args.login,
            password=args.password,
            latency_ms=args.latency_ms,
            deliver_after_ms=args.deliver_after_ms,
            balance=args.balance,
            connection_error_rate=args.connection_error_rate,
            hang_rate=args.hang_rate,
            html_rate=args.html_rate,
            malformed_rate=args.malformed_rate,
            seed=args.seed,
            max_messages=args.max_messages,
            verbose=args.verbose,
            push_url=getattr(args, "push_url", None),
            push_retry_ms=getattr(args, "push_retry_ms", 500.0),
            duplicate_window_ms=0.0 if args.no_duplicate_window else 60_000.0,
            trickle_ms=args.trickle_ms,
            state_batch_error=args.state_batch_error,
        )
    except ValueError as exc:
        print(f"fake-gateway: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


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
