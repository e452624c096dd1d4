"""What a command group sees: the registrar it adds its commands to, and ``CLIError``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

__all__ = ["CLIError", "Command", "Commands"]

Command = Callable[[argparse.Namespace], int]  # parsed arguments in, exit code out


class CLIError(Exception):
    """An expected failure: its message is printed as one line, without a traceback."""


class Commands:
    """``targetsms``'s subcommands; a group's ``register(commands)`` calls ``add`` for each."""

    def __init__(self, subparsers: argparse._SubParsersAction[Any]) -> None:
        self._subparsers = subparsers

    def add(self, name: str, run: Command, text: str) -> argparse.ArgumentParser:
        """Add ``targetsms NAME`` running ``run``; ``text`` is its help line and description.
        Returns its parser, for the command's own arguments."""
        parser: argparse.ArgumentParser = self._subparsers.add_parser(
            name, help=text, description=text
        )
        parser.set_defaults(func=run)
        return parser
