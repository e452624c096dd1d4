"""``targetsms``: the command line. Results are one JSON object on stdout; problems are one
line on stderr. Exit 0 means success, 1 a refusal or failure, 2 a usage error.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from .gateway import GatewayError
from .otp import (
    RequestRefused,
    ServiceUnavailable,
    VerificationNotFound,
    cancel,
    get_status,
    request_code,
    resend,
    verify_code,
)
from .settings import SettingsError

__all__ = ["main"]


class CLIError(Exception):
    """An expected failure: its message is printed as one line, without a traceback."""


def _print(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def _wait_for_send(verification_id: str, seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        status = get_status(verification_id).as_dict()
        if status["state"] not in ("queued", "sending") or time.monotonic() >= deadline:
            return status
        time.sleep(0.1)


def _wait_seconds(raw: str) -> float:
    """A finite, non-negative number of seconds (``nan`` would never compare true and never end)."""
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError("must be a finite number of seconds, 0 or more")
    return value


def cmd_send(args: argparse.Namespace) -> int:
    try:
        req = request_code(
            args.phone,
            client_ip=args.ip,
            captcha_token=args.captcha,
            idempotency_key=args.idempotency_key,
        )
    except RequestRefused as exc:
        _print(exc.as_dict())
        return 1
    if args.wait is None:
        _print({"id": req.id, "state": req.state, "created": req.created})
        return 0
    status = _wait_for_send(req.id, args.wait)
    _print(status)
    return 0 if status["state"] == "sent" else 1


def cmd_verify(args: argparse.Namespace) -> int:
    try:
        result = verify_code(args.id, args.code, client_ip=args.ip)
    except RequestRefused as exc:
        _print(exc.as_dict())
        return 1
    out: dict[str, Any] = {
        "ok": result.ok,
        "reason": result.reason,
        "attempts_left": result.attempts_left,
    }
    if result.retry_after is not None:
        out["retry_after"] = result.retry_after
    _print(out)
    return 0 if result.ok else 1


def _deny_prefix(raw: str) -> str:
    prefix = raw.replace(" ", "").replace("-", "")
    if not (prefix.startswith("+") and prefix[1:].isdigit() and 2 <= len(prefix) <= 16):
        raise argparse.ArgumentTypeError("a prefix is + and 1 to 15 digits, e.g. +7999")
    return prefix


def cmd_block(args: argparse.Namespace) -> int:
    from .runtime import get_runtime

    store = get_runtime().store
    if args.prefix is None:
        _print({"blocked": sorted(store.redis.smembers(store.keys.deny))})
        return 0
    store.redis.sadd(store.keys.deny, args.prefix)
    _print({"blocked": args.prefix})
    return 0


def cmd_unblock(args: argparse.Namespace) -> int:
    from .runtime import get_runtime

    store = get_runtime().store
    removed = store.redis.srem(store.keys.deny, args.prefix)
    _print({"unblocked": args.prefix, "was_blocked": bool(removed)})
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from .runtime import get_runtime
    from .stats import read_stats

    _print(read_stats(get_runtime().store))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    _print(get_status(args.id).as_dict())
    return 0


def cmd_resend(args: argparse.Namespace) -> int:
    try:
        req = resend(args.id)
    except RequestRefused as exc:
        _print(exc.as_dict())
        return 1
    _print({"id": req.id, "state": req.state})
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    ok = cancel(args.id)
    _print({"id": args.id, "canceled": ok})
    return 0 if ok else 1


def cmd_check(args: argparse.Namespace) -> int:
    from .check import run_checks

    return run_checks(sys.stdout)


def cmd_balance(args: argparse.Namespace) -> int:
    from .runtime import get_runtime

    balance = get_runtime().gateway.balance()
    _print(
        {
            "money": str(balance.money),
            "currency": balance.currency,
            "sms": [{"area": area, "count": count} for area, count in balance.sms],
        }
    )
    return 0


def cmd_fake_gateway(args: argparse.Namespace) -> int:
    from .sandbox import config_from_args, run

    try:
        config = config_from_args(args)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    return run(config)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="targetsms", description="SMS one-time codes through TargetSMS (Celery + Redis)."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, fn: Callable[[argparse.Namespace], int], text: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text, description=text)
        p.set_defaults(func=fn)
        return p

    p = add("send", cmd_send, "request a code for PHONE (international format)")
    p.add_argument("phone")
    p.add_argument("--ip", help="the client's IP address, for per-IP limits")
    p.add_argument("--captcha", help="captcha token from the form")
    p.add_argument("--idempotency-key", help="the same key within the code TTL sends nothing new")
    p.add_argument(
        "--wait",
        type=_wait_seconds,
        metavar="SECONDS",
        help="wait until the code is sent or failed",
    )
    p = add("verify", cmd_verify, "check the CODE a user typed for verification ID")
    p.add_argument("id")
    p.add_argument("code")
    p.add_argument("--ip", help="the client's IP address, for per-IP guessing limits")
    p = add("status", cmd_status, "state, delivery status and history of verification ID")
    p.add_argument("id")
    p = add("resend", cmd_resend, "send a new code for verification ID (the old one stops working)")
    p.add_argument("id")
    p = add("cancel", cmd_cancel, "cancel verification ID")
    p.add_argument("id")
    p = add("block", cmd_block, "deny SMS to a number or prefix (no PREFIX: list them)")
    p.add_argument("prefix", nargs="?", type=_deny_prefix)
    p = add("unblock", cmd_unblock, "remove a number or prefix from the deny list")
    p.add_argument("prefix", type=_deny_prefix)
    add("stats", cmd_stats, "sends, verifications, conversion and refusals: last hour and day")
    add("check", cmd_check, "validate settings and reach Redis, the broker and the gateway")
    add("balance", cmd_balance, "the TargetSMS account balance")
    p = add("fake-gateway", cmd_fake_gateway, "run the sandbox TargetSMS gateway (never real SMS)")
    from .sandbox import add_arguments

    add_arguments(p)
    p = add("demo", cmd_demo, "start Redis, the sandbox, a worker and Flower; verify one code")
    p.add_argument("--phone", default="+79001234567", help="phone number for the demo")
    p.add_argument("--once", action="store_true", help="stop everything after the demo")
    p.add_argument("--flower-port", type=int, default=5555)
    p.add_argument("--concurrency", type=int, default=16, help="worker threads")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        logging.getLogger("targetsms").setLevel(logging.CRITICAL)
    try:
        code: int = args.func(args)
    except (SettingsError, ServiceUnavailable, CLIError) as exc:
        sys.stderr.write(f"targetsms: {exc}\n")
        return 1
    except (VerificationNotFound, GatewayError) as exc:
        sys.stderr.write(f"targetsms: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
