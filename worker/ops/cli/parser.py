"""The root parser: global options, then each command group's commands, in ``GROUPS`` order."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from importlib import metadata

from worker.ops.cli import api, dev, operations, push, verification
from worker.ops.cli.commands import Commands

__all__ = ["GROUPS", "parse_args"]

# Each group's ``register(commands)``, in the order ``targetsms --help`` lists them. A new group
# is one module with a ``register`` and one line here.
GROUPS: tuple[Callable[[Commands], None], ...] = (
    verification.register,
    operations.register,
    push.register,
    api.register,
    dev.register,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="targetsms", description="SMS one-time codes through TargetSMS (Celery + Redis)."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log to stderr")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = Commands(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    for register in GROUPS:
        register(commands)
    return parser


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """``argv`` (without the program name) parsed; a usage error exits 2, as argparse does."""
    return build_parser().parse_args(verification.dash_ids_as_positionals(list(argv)))


def _version() -> str:
    try:
        return metadata.version("targetsms-worker")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"
