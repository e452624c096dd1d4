"""Development commands, the one door into ``worker.dev``: the sandbox gateway and the demo."""

from __future__ import annotations

import argparse

from worker.ops.cli.commands import CLIError, Commands

__all__ = ["register"]


def register(commands: Commands) -> None:
    from worker.dev.sandbox import add_arguments

    p = commands.add(
        "fake-gateway", cmd_fake_gateway, "run the sandbox TargetSMS gateway (never real SMS)"
    )
    add_arguments(p)
    p = commands.add(
        "demo", cmd_demo, "start Redis, the sandbox, a worker and Flower; verify one code"
    )
    p.add_argument("--phone", default="+79001234567", help="phone number for the demo")
    p.add_argument("--once", action="store_true", help="stop everything after the demo")
    p.add_argument("--flower-port", type=int, default=5555)
    p.add_argument("--concurrency", type=int, default=16, help="worker threads")


def cmd_fake_gateway(args: argparse.Namespace) -> int:
    from worker.dev.sandbox import config_from_args, run

    try:
        config = config_from_args(args)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    return run(config)


def cmd_demo(args: argparse.Namespace) -> int:
    from worker.dev.demo import run_demo

    return run_demo(args)
