"""``targetsms api``, ``targetsms webhook-relay`` and ``targetsms api-key create|list|revoke|set``:
the HTTP API's commands.

``targetsms api`` alone is the whole API in development: it also runs a webhook relay on a
thread. In production the relay is a process of its own (``targetsms api --no-relay`` beside
``targetsms webhook-relay``, as the Procfile and compose run them), so relaying never competes
with requests for the API process's GIL (BENCHMARKS.md, "The HTTP API vs the direct Python
call"). Any number of relays and API processes share the one stream.

A key is printed once, at creation (only its digest is stored), together with the webhook
secret when a webhook URL is given; ``list`` shows names, limits and webhook URLs, never a key
or a secret.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from worker.core.api_keys import (
    ApiKey,
    key_digest,
    name_problem,
    new_api_key,
    new_webhook_secret,
)
from worker.http.urls import url_problem
from worker.ops.cli.commands import CLIError, Commands
from worker.ops.cli.output import print_json

__all__ = ["DEFAULT_PER_DAY", "DEFAULT_PER_HOUR", "register"]

# A site's own SMS budget unless given: a leaked key spends at most this of the account.
DEFAULT_PER_HOUR = 200
DEFAULT_PER_DAY = 2000

RELAY_BANNER = "webhook relay running (consumer {consumer})"
# A running relay says so every HEARTBEAT_SECONDS (5 s; worker/steps/webhooks.py).
RELAY_STALE_MS = 30_000


def register(commands: Commands) -> None:
    p = commands.add(
        "api", cmd_api, "serve the HTTP API (POST /v1/verifications ..., GET /openapi.json)"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8097, help="port (default 8097; 0 = any free)")
    p.add_argument(
        "--no-relay",
        action="store_true",
        help="serve requests only; `targetsms webhook-relay` relays webhook events",
    )
    p = commands.add(
        "webhook-relay",
        cmd_webhook_relay,
        "queue the webhook deliveries of the HTTP API's events (beside `targetsms api --no-relay`)",
    )
    p.add_argument(
        "--healthy",
        action="store_true",
        help=f"exit 0 when a relay of this host ran within the last {RELAY_STALE_MS // 1000} s"
        " (a container's healthcheck), else 1",
    )

    keys = commands.add(
        "api-key", _no_action, "create, list, revoke or change the HTTP API's per-site keys"
    )
    actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, run: Any, text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(name, help=text, description=text)
        parser.set_defaults(func=run)
        return parser

    p = action(
        "create",
        cmd_create,
        "make a key for site NAME: printed once, with the webhook secret when --webhook",
    )
    p.add_argument("name", type=_name, help="the site's name (a-z, 0-9, - and _)")
    p.add_argument("--webhook", metavar="URL", help="https URL that receives signed events")
    p.add_argument("--max-per-hour", type=_limit, default=DEFAULT_PER_HOUR, metavar="N")
    p.add_argument("--max-per-day", type=_limit, default=DEFAULT_PER_DAY, metavar="N")
    action("list", cmd_list, "the keys' names, limits and webhook URLs (never a key or a secret)")
    p = action("revoke", cmd_revoke, "delete key NAME: its next request is refused")
    p.add_argument("name", type=_name)
    p = action("set", cmd_set, "change key NAME's webhook or limits")
    p.add_argument("name", type=_name)
    hook = p.add_mutually_exclusive_group()
    hook.add_argument("--webhook", metavar="URL", help="https URL that receives signed events")
    hook.add_argument("--no-webhook", action="store_true", help="stop sending webhooks")
    p.add_argument("--new-secret", action="store_true", help="replace the webhook secret")
    p.add_argument("--max-per-hour", type=_limit, metavar="N")
    p.add_argument("--max-per-day", type=_limit, metavar="N")


def _no_action(args: argparse.Namespace) -> int:  # argparse requires an ACTION first
    raise CLIError("api-key needs an action: create, list, revoke or set")


def _name(value: str) -> str:
    problem = name_problem(value)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return value


def _limit(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError("a whole number of SMS (0: no limit of its own)")
    return n


def _webhook(url: str) -> str:
    problem = url_problem(url, allow_http=False)
    if problem:
        raise CLIError(f"webhook URL {problem}")
    return url


def _public(key: ApiKey) -> dict[str, Any]:
    return {
        "name": key.name,
        "created_at": key.created_at,
        "max_per_hour": key.per_hour,
        "max_per_day": key.per_day,
        "webhook_url": key.webhook_url,
    }


def cmd_create(args: argparse.Namespace) -> int:
    from worker.runtime import get_runtime

    url = _webhook(args.webhook) if args.webhook else None
    secret = new_webhook_secret() if url else None
    key = new_api_key()
    stored = ApiKey(
        name=args.name,
        digest=key_digest(key),
        per_hour=args.max_per_hour,
        per_day=args.max_per_day,
        created_at=int(time.time() * 1000),
        webhook_url=url,
        webhook_secret=secret,
    )
    if not get_runtime().store.create_api_key(stored):
        raise CLIError(f"a key named {args.name} exists (revoke it first)")
    out = {**_public(stored), "key": key}
    if secret:
        out["webhook_secret"] = secret
    print_json(out)
    sys.stderr.write("targetsms: the key is shown only now: keep it in your site's settings\n")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from worker.runtime import get_runtime

    print_json({"keys": [_public(k) for k in get_runtime().store.list_api_keys()]})
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from worker.runtime import get_runtime

    if not get_runtime().store.revoke_api_key(args.name):
        raise CLIError(f"no key named {args.name}")
    print_json({"name": args.name, "revoked": True})
    return 0


def cmd_set(args: argparse.Namespace) -> int:
    from worker.runtime import get_runtime

    store = get_runtime().store
    key = store.api_key(args.name)
    if key is None:
        raise CLIError(f"no key named {args.name}")
    fields: dict[str, str | int] = {}
    secret = None
    if args.no_webhook:
        fields.update(webhook_url="", webhook_secret="")
    elif args.webhook:
        fields["webhook_url"] = _webhook(args.webhook)
        if not key.webhook_secret or args.new_secret:
            secret = new_webhook_secret()
            fields["webhook_secret"] = secret
    if args.max_per_hour is not None:
        fields["per_hour"] = args.max_per_hour
    if args.max_per_day is not None:
        fields["per_day"] = args.max_per_day
    if fields and not store.update_api_key(args.name, fields):
        raise CLIError(f"no key named {args.name}")
    updated = store.api_key(args.name)
    out = _public(updated) if updated else {"name": args.name}
    if secret:
        out["webhook_secret"] = secret
    print_json(out)
    return 0


def _consumers_here(kind: str) -> str:
    """The start of the stream consumer names of this host's ``kind`` processes."""
    import socket

    return f"{kind}-{socket.gethostname()}-"


def _consumer(kind: str) -> str:
    import os

    return f"{_consumers_here(kind)}{os.getpid()}"


def cmd_api(args: argparse.Namespace) -> int:
    """The API, and unless ``--no-relay`` a webhook relay on a thread beside it."""
    import threading

    from worker.runtime import get_runtime
    from worker.steps.webhooks import run_relay
    from worker.web.api import serve, wsgi_app

    rt = get_runtime()
    stop = threading.Event()
    relay = threading.Thread(target=run_relay, args=(rt, _consumer("api"), stop), daemon=True)
    try:
        app = wsgi_app(runtime=rt)
        return serve(app, args.host, args.port, on_start=None if args.no_relay else relay.start)
    finally:
        stop.set()


def cmd_webhook_relay(args: argparse.Namespace) -> int:
    """Relay until SIGINT/SIGTERM; Redis or the broker away is waited out (``run_relay``)."""
    import signal
    import threading
    from types import FrameType

    from worker.runtime import get_runtime
    from worker.steps.webhooks import run_relay

    rt = get_runtime()
    if args.healthy:
        here = _consumers_here("relay")
        idle = [ms for name, ms in rt.store.webhook_relays().items() if name.startswith(here)]
        return 0 if idle and min(idle) < RELAY_STALE_MS else 1
    stop = threading.Event()

    def stopping(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    consumer = _consumer("relay")
    print(RELAY_BANNER.format(consumer=consumer), flush=True)
    run_relay(rt, consumer, stop)
    return 0
