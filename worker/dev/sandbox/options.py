"""The sandbox's command-line flags and the config they make: for ``python -m worker.dev.sandbox``
and ``targetsms fake-gateway``. Apart from the server, so that the ``targetsms`` command can
offer these flags without importing the server, its engine and their HTTP and XML stack."""

from __future__ import annotations

import argparse
import os
import sys
from decimal import Decimal, InvalidOperation

from worker.dev.sandbox.config import SandboxConfig

__all__ = ["DEFAULT_CLI_PORT", "add_arguments", "config_from_args"]

DEFAULT_CLI_PORT = 8099


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _rate(text: str) -> float:
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be a fraction in 0..1")
    return value


def _non_negative(text: str) -> float:
    value = _number(text)
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
