"""Push commands: serve the push receiver, and tell TargetSMS where to push (or to stop)."""

from __future__ import annotations

import argparse

from worker.ops.cli.commands import CLIError, Commands
from worker.ops.cli.output import print_json

__all__ = ["register"]


def register(commands: Commands) -> None:
    p = commands.add(
        "push-receiver",
        cmd_push_receiver,
        "serve POST /targetsms/state/<TARGETSMS_PUSH_TOKEN> for pushed delivery statuses",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8098, help="port (default 8098; 0 = any free)")
    p = commands.add(
        "push-register", cmd_push_register, "have TargetSMS push delivery statuses to URL"
    )
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("url", nargs="?", help="https://HOST/.../targetsms/state/<token>")
    target.add_argument("--off", action="store_true", help="stop pushing (clears the URL)")


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
        print_json({"push_url": None})
        return 0
    problem = push_url_problem(args.url, rt.settings.gateway)
    if problem:
        raise CLIError(problem)
    rt.provider.set_push_url(args.url)
    print_json({"push_url": args.url.replace(rt.settings.gateway.push_token, "***")})
    return 0
