"""Verification commands, the producer API from a shell: send, verify, status, resend, cancel."""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Any

from worker.api.producer import (
    RequestRefused,
    VerificationNotFound,
    cancel,
    get_status,
    request_code,
    resend,
    verify_code,
)
from worker.core.codes import is_verification_id
from worker.ops.cli.commands import Commands
from worker.ops.cli.output import print_json

__all__ = ["dash_ids_as_positionals", "register"]

_ID_HELP = "the verification id that `targetsms send` printed"


def register(commands: Commands) -> None:
    p = commands.add(
        "send", cmd_send, "request a code for PHONE (+7..., or national: OTP_DEFAULT_REGION)"
    )
    p.add_argument("phone", help="the phone number, e.g. +79001234567 or 8 900 123-45-67")
    p.add_argument("--ip", help="the client's IP address, for per-IP limits")
    p.add_argument("--captcha", help="captcha token from the form")
    p.add_argument("--idempotency-key", help="the same key within the code TTL sends nothing new")
    p.add_argument(
        "--wait",
        type=_wait_seconds,
        metavar="SECONDS",
        help="wait until the code is sent or failed",
    )
    p = commands.add("verify", cmd_verify, "check the CODE a user typed for verification ID")
    p.add_argument("id", help=_ID_HELP)
    p.add_argument("code", help="the code the user typed")
    p.add_argument("--ip", help="the client's IP address, for per-IP guessing limits")
    p = commands.add("status", cmd_status, "state, delivery status and history of verification ID")
    p.add_argument("id", help=_ID_HELP)
    p = commands.add(
        "resend", cmd_resend, "send a new code for verification ID (the old one stops working)"
    )
    p.add_argument("id", help=_ID_HELP)
    p.add_argument("--ip", help="the client's IP address: a resend counts like any SMS")
    p.add_argument("--captcha", help="captcha token from the form")
    p = commands.add("cancel", cmd_cancel, "cancel verification ID")
    p.add_argument("id", help=_ID_HELP)


def _wait_seconds(raw: str) -> float:
    """A finite, non-negative number of seconds (``nan`` would never compare true and never end)."""
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError("must be a finite number of seconds, 0 or more")
    return value


def _wait_for_send(verification_id: str, seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        status = get_status(verification_id).as_dict()
        if status["state"] not in ("queued", "sending") or time.monotonic() >= deadline:
            return status
        time.sleep(0.1)


def cmd_send(args: argparse.Namespace) -> int:
    try:
        req = request_code(
            args.phone,
            client_ip=args.ip,
            captcha_token=args.captcha,
            idempotency_key=args.idempotency_key,
        )
    except RequestRefused as exc:
        print_json(exc.as_dict())
        return 1
    if args.wait is None:
        print_json({"id": req.id, "state": req.state, "created": req.created})
        return 0
    status = _wait_for_send(req.id, args.wait)
    print_json(status)
    if status["state"] == "queued":
        sys.stderr.write(
            f"targetsms: no worker took {req.id} within {args.wait:g} s: is a worker consuming "
            "the send queue? (targetsms check)\n"
        )
    elif status["state"] == "sending":
        sys.stderr.write(f"targetsms: {req.id} still sending after {args.wait:g} s\n")
    return 0 if status["state"] == "sent" else 1


def cmd_verify(args: argparse.Namespace) -> int:
    try:
        result = verify_code(args.id, args.code, client_ip=args.ip)
    except RequestRefused as exc:
        print_json(exc.as_dict())
        return 1
    if result.reason == "unknown":
        # The same answer as status, resend and cancel give for an id that does not exist.
        raise VerificationNotFound("no such verification")
    out: dict[str, Any] = {
        "ok": result.ok,
        "reason": result.reason,
        "attempts_left": result.attempts_left,
    }
    if result.retry_after is not None:
        out["retry_after"] = result.retry_after
    print_json(out)
    return 0 if result.ok else 1


def cmd_status(args: argparse.Namespace) -> int:
    print_json(get_status(args.id).as_dict())
    return 0


def cmd_resend(args: argparse.Namespace) -> int:
    try:
        req = resend(args.id, client_ip=args.ip, captcha_token=args.captcha)
    except RequestRefused as exc:
        print_json(exc.as_dict())
        return 1
    print_json({"id": req.id, "state": req.state})
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    ok = cancel(args.id)
    print_json({"id": args.id, "canceled": ok})
    return 0 if ok else 1


_ID_COMMANDS = frozenset({"verify", "status", "resend", "cancel"})
_VALUE_OPTIONS = frozenset({"--ip", "--captcha"})


def dash_ids_as_positionals(argv: list[str]) -> list[str]:
    """Ids made before ids were kept from starting with "-" can: argparse would take such an
    id for an option. For the id commands, put options first and positionals after "--"."""
    at = next((i for i, token in enumerate(argv) if not token.startswith("-")), None)
    if at is None or argv[at] not in _ID_COMMANDS or "--" in argv[at + 1 :]:
        return argv
    rest = argv[at + 1 :]
    if not any(t.startswith("-") and is_verification_id(t) for t in rest):
        return argv
    options: list[str] = []
    positionals: list[str] = []
    tokens = iter(rest)
    for token in tokens:
        if token in _VALUE_OPTIONS:
            value = next(tokens, None)
            options += [token] if value is None else [token, value]
        elif is_verification_id(token) or not token.startswith("-"):
            positionals.append(token)
        else:
            options.append(token)
    return [*argv[: at + 1], *options, "--", *positionals]
