"""Operators' commands: the deny list, statistics, checks, the balance and the metrics exporter."""

from __future__ import annotations

import argparse
import sys

from worker.core.phone import deny_prefix
from worker.ops.cli.commands import CLIError, Commands
from worker.ops.cli.output import print_json, print_text

__all__ = ["register"]


def register(commands: Commands) -> None:
    p = commands.add("block", cmd_block, "deny SMS to a number or prefix (no PREFIX: list them)")
    p.add_argument("prefix", nargs="?", type=_deny_prefix, help="+ and 1 to 15 digits, e.g. +7999")
    p = commands.add("unblock", cmd_unblock, "remove a number or prefix from the deny list")
    p.add_argument("prefix", type=_deny_prefix, help="a prefix listed by `targetsms block`")
    p = commands.add(
        "stats", cmd_stats, "sends, verifications, conversion and refusals: last hour and day"
    )
    p.add_argument("--text", action="store_true", help="one line per figure instead of JSON")
    p = commands.add(
        "check",
        cmd_check,
        "validate settings; reach Redis, the broker, a worker on the send queue and the gateway",
    )
    p.add_argument("--text", action="store_true", help="one line per part instead of JSON")
    commands.add("balance", cmd_balance, "the TargetSMS account balance")
    p = commands.add("metrics", cmd_metrics, "serve Prometheus metrics for the whole deployment")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=9808)


def _deny_prefix(raw: str) -> str:
    try:
        return deny_prefix(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_block(args: argparse.Namespace) -> int:
    from worker.runtime import get_runtime

    store = get_runtime().store
    if args.prefix is None:
        print_json({"blocked": store.deny_list()})
        return 0
    store.deny_add(args.prefix)
    print_json({"blocked": args.prefix})
    return 0


def cmd_unblock(args: argparse.Namespace) -> int:
    from worker.runtime import get_runtime

    store = get_runtime().store
    removed = store.deny_remove(args.prefix)
    print_json({"unblocked": args.prefix, "was_blocked": removed})
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from worker.ops.stats import read_stats
    from worker.runtime import get_runtime

    stats = read_stats(get_runtime().store)
    if args.text:
        print_text(stats)
    else:
        print_json(stats)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from worker.ops.check import run_checks

    return run_checks(sys.stdout, text=args.text)


def cmd_balance(args: argparse.Namespace) -> int:
    from worker.runtime import get_runtime

    balance = get_runtime().provider.balance()
    print_json(
        {
            "money": str(balance.money),
            "currency": balance.currency,
            "sms": [{"area": area, "count": count} for area, count in balance.sms],
        }
    )
    return 0


def cmd_metrics(args: argparse.Namespace) -> int:
    from worker.ops.metrics import serve
    from worker.runtime import get_runtime

    rt = get_runtime()
    try:
        serve(rt, args.host, args.port)
    except OSError as exc:
        raise CLIError(f"cannot serve metrics on {args.host}:{args.port}: {exc.strerror}") from None
    return 0
