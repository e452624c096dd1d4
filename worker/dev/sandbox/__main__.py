"""``python -m worker.dev.sandbox [flags]``: the sandbox gateway on its own."""

from __future__ import annotations

import argparse
import sys

from worker.dev.sandbox.options import add_arguments, config_from_args
from worker.dev.sandbox.server import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="targetsms fake-gateway",
        description="Sandbox TargetSMS gateway: the real API paths, fake SMS, no credentials.",
    )
    add_arguments(parser)
    return run(config_from_args(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
