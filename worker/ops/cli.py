"""``targetsms``: the command line. Results are one JSON object on stdout; problems are one
line on stderr. Exit 0 means success, 1 a refusal or failure, 2 a usage error.

Settings come from the environment and from a ``.env`` in the current directory when there is
one (the file ``honcho start`` reads), so the CLI works beside it; the environment wins.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from worker.api.producer import (
    RequestRefused,
    ServiceUnavailable,
    VerificationNotFound,
    cancel,
    get_status,
    request_code,
    resend,
    verify_code,
)
from worker.core.codes import is_verification_id
from worker.core.phone import deny_prefix
from worker.errors import GatewayError
from worker.settings import SettingsError
from worker.store import StoreUnavailable

__all__ = ["main"]


class CLIError(Exception):
    """An expected failure: its message is printed as one line, without a traceback."""


def _print(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def _print_text(obj: Any, prefix: str = "") -> None:
    """The human form of a JSON result (``--text``): one ``key value`` line per leaf."""
    if isinstance(obj, dict) and obj:
        for key, value in obj.items():
            _print_text(value, f"{prefix}.{key}" if prefix else str(key))
    else:
        sys.stdout.write(f"{prefix:<32} {json.dumps(obj, ensure_ascii=False, default=str)}\n")


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
        _print(exc.as_dict())
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
    _print(out)
    return 0 if result.ok else 1


def _deny_prefix(raw: str) -> str:
    try:
        return deny_prefix(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_block(args: argparse.Namespace) -> int:
    from worker.runtime import get_runtime

    store = get_runtime().store
    if args.prefix is None:
        _print({"blocked": store.deny_list()})
        return 0
    store.deny_add(args.prefix)
    _print({"blocked": args.prefix})
    return 0


def cmd_unblock(args: argparse.Namespace) -> int:
    from worker.runtime import get_runtime

    store = get_runtime().store
    removed = store.deny_remove(args.prefix)
    _print({"unblocked": args.prefix, "was_blocked": removed})
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from worker.ops.stats import read_stats
    from worker.runtime import get_runtime

    stats = read_stats(get_runtime().store)
    if args.text:
        _print_text(stats)
    else:
        _print(stats)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    _print(get_status(args.id).as_dict())
    return 0


def cmd_resend(args: argparse.Namespace) -> int:
    try:
        req = resend(args.id, client_ip=args.ip, captcha_token=args.captcha)
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
    from worker.ops.check import run_checks

    return run_checks(sys.stdout, text=args.text)


def cmd_balance(args: argparse.Namespace) -> int:
    from worker.runtime import get_runtime

    balance = get_runtime().provider.balance()
    _print(
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


def cmd_fake_gateway(args: argparse.Namespace) -> int:
    from worker.dev.sandbox import config_from_args, run

    try:
        config = config_from_args(args)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    return run(config)


def cmd_push_receiver(args: argparse.Namespace) -> int:
    from worker.web.push import serve, wsgi_app

    try:
        app = wsgi_app()
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    return serve(app, args.host, args.port)


def cmd_push_register(args: argparse.Namespace) -> int:
    from worker.runtime import get_runtime
    from worker.web.push import push_url_problem

    rt = get_runtime()
    if args.off:
        rt.provider.set_push_url(None)
        _print({"push_url": None})
        return 0
    problem = push_url_problem(args.url, rt.settings.gateway)
    if problem:
        raise CLIError(problem)
    rt.provider.set_push_url(args.url)
    _print({"push_url": args.url.replace(rt.settings.gateway.push_token, "***")})
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from worker.dev.demo import run_demo

    return run_demo(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="targetsms", description="SMS one-time codes through TargetSMS (Celery + Redis)."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log to stderr")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, fn: Callable[[argparse.Namespace], int], text: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text, description=text)
        p.set_defaults(func=fn)
        return p

    p = add("send", cmd_send, "request a code for PHONE (+7..., or national: OTP_DEFAULT_REGION)")
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
    p = add("verify", cmd_verify, "check the CODE a user typed for verification ID")
    p.add_argument("id", help=_ID_HELP)
    p.add_argument("code", help="the code the user typed")
    p.add_argument("--ip", help="the client's IP address, for per-IP guessing limits")
    p = add("status", cmd_status, "state, delivery status and history of verification ID")
    p.add_argument("id", help=_ID_HELP)
    p = add("resend", cmd_resend, "send a new code for verification ID (the old one stops working)")
    p.add_argument("id", help=_ID_HELP)
    p.add_argument("--ip", help="the client's IP address: a resend counts like any SMS")
    p.add_argument("--captcha", help="captcha token from the form")
    p = add("cancel", cmd_cancel, "cancel verification ID")
    p.add_argument("id", help=_ID_HELP)
    p = add("block", cmd_block, "deny SMS to a number or prefix (no PREFIX: list them)")
    p.add_argument("prefix", nargs="?", type=_deny_prefix, help="+ and 1 to 15 digits, e.g. +7999")
    p = add("unblock", cmd_unblock, "remove a number or prefix from the deny list")
    p.add_argument("prefix", type=_deny_prefix, help="a prefix listed by `targetsms block`")
    p = add("stats", cmd_stats, "sends, verifications, conversion and refusals: last hour and day")
    p.add_argument("--text", action="store_true", help="one line per figure instead of JSON")
    p = add(
        "check",
        cmd_check,
        "validate settings; reach Redis, the broker, a worker on the send queue and the gateway",
    )
    p.add_argument("--text", action="store_true", help="one line per part instead of JSON")
    add("balance", cmd_balance, "the TargetSMS account balance")
    p = add("metrics", cmd_metrics, "serve Prometheus metrics for the whole deployment")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=9808)
    p = add("fake-gateway", cmd_fake_gateway, "run the sandbox TargetSMS gateway (never real SMS)")
    from worker.dev.sandbox import add_arguments

    add_arguments(p)
    p = add(
        "push-receiver",
        cmd_push_receiver,
        "serve POST /targetsms/state/<TARGETSMS_PUSH_TOKEN> for pushed delivery statuses",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8098, help="port (default 8098; 0 = any free)")
    p = add("push-register", cmd_push_register, "have TargetSMS push delivery statuses to URL")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("url", nargs="?", help="https://HOST/.../targetsms/state/<token>")
    target.add_argument("--off", action="store_true", help="stop pushing (clears the URL)")
    p = add("demo", cmd_demo, "start Redis, the sandbox, a worker and Flower; verify one code")
    p.add_argument("--phone", default="+79001234567", help="phone number for the demo")
    p.add_argument("--once", action="store_true", help="stop everything after the demo")
    p.add_argument("--flower-port", type=int, default=5555)
    p.add_argument("--concurrency", type=int, default=16, help="worker threads")
    from worker.ops.api_keys import register as add_api_commands

    add_api_commands(sub)
    return parser


_ID_HELP = "the verification id that `targetsms send` printed"


def _version() -> str:
    try:
        return metadata.version("targetsms-worker")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def _load_dotenv() -> None:
    """``.env`` in the current directory, when there is one; set variables win over it."""
    path = Path.cwd() / ".env"
    if path.is_file():
        from dotenv import load_dotenv

        load_dotenv(path, override=False)


# Expected failures: one line on stderr, exit 1, no traceback.
_EXPECTED = (SettingsError, CLIError, VerificationNotFound, ServiceUnavailable, StoreUnavailable)


_ID_COMMANDS = frozenset({"verify", "status", "resend", "cancel"})
_VALUE_OPTIONS = frozenset({"--ip", "--captcha"})


def _dash_ids_as_positionals(argv: list[str]) -> list[str]:
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


def main(argv: Sequence[str] | None = None) -> int:
    _load_dotenv()
    parser = _parser()
    args = parser.parse_args(_dash_ids_as_positionals(list(sys.argv[1:] if argv is None else argv)))
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        logging.getLogger("targetsms").setLevel(logging.CRITICAL)
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
