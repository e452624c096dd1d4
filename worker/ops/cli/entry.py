"""``main``: load ``.env``, parse, run one command; an expected failure is one stderr line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from worker.errors import GatewayError, ServiceUnavailable, VerificationNotFound
from worker.ops.cli.commands import CLIError
from worker.ops.cli.parser import parse_args
from worker.settings import SettingsError, load_dotenv_file
from worker.store import StoreUnavailable

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    load_dotenv_file()
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    ours = logging.getLogger("targetsms")
    level = ours.level
    if not args.verbose:
        ours.setLevel(logging.CRITICAL)
    try:
        return _run(args)
    finally:
        ours.setLevel(level)  # called in-process (tests, a wrapper), the caller's logging stays


def _run(args: argparse.Namespace) -> int:
    try:
        code: int = args.func(args)
    except (
        SettingsError,
        CLIError,
        VerificationNotFound,
        ServiceUnavailable,
        StoreUnavailable,
    ) as exc:
        # Unavailable: the text names what is unreachable (host and port, never a password).
        sys.stderr.write(f"targetsms: {exc}\n")
        return 1
    except GatewayError as exc:
        # The stable code first, then the gateway's own (Russian) text.
        sys.stderr.write(f"targetsms: {exc.code}: {exc.message}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    return code
