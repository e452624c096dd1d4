"""Which ``celery`` command this process is (from argv), and Flower stopped without a login."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from worker.core.secrets import flower_auth_problems

__all__ = ["flower_login_problems", "in_celery_command", "refuse_flower_without_login"]


def in_celery_command() -> bool:
    """True inside ``celery ...`` (worker, flower, inspect); False in a web app or our CLI."""
    return "celery" in Path(sys.argv[0]).parts or Path(sys.argv[0]).name == "celery"


def refuse_flower_without_login() -> None:
    """Stop ``celery flower`` (one line, exit 78) when ``flower_login_problems`` finds any."""
    problems = flower_login_problems()
    if problems:
        sys.stderr.write(f"targetsms-worker: {'; '.join(problems)}\n")
        raise SystemExit(78)


def flower_login_problems() -> list[str]:
    """Why ``celery flower`` must not start: no login at all, or a guessable password.

    Task pages are not public; the password is read from the environment so that `ps` never
    shows it (a --basic-auth argument would, and is checked all the same). OAuth (``--auth``,
    FLOWER_AUTH) needs no password."""
    argv = sys.argv[1:]
    if not in_celery_command() or "flower" not in argv:
        return []
    basic = [v for v in _option_values(argv, ("--basic-auth", "--basic_auth")) if v]
    if os.environ.get("FLOWER_BASIC_AUTH"):
        basic.append(os.environ["FLOWER_BASIC_AUTH"])
    if basic:
        return list(dict.fromkeys(p for value in basic for p in flower_auth_problems(value)))
    if os.environ.get("FLOWER_AUTH") or _option_values(argv, ("--auth",)):
        return []
    return ["Flower needs FLOWER_BASIC_AUTH=user:password in its environment"]


def _option_values(argv: list[str], names: tuple[str, ...]) -> list[str]:
    """The values given to the options ``names`` (``--name=value`` or ``--name value``)."""
    out = []
    for i, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if name in names:
            out.append(value if eq else (argv[i + 1] if i + 1 < len(argv) else ""))
    return out
