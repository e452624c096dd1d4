"""Where the platform pushes: the receiver's secret path, and which URLs may carry it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from worker.core.secrets import MIN_TOKEN_CHARS, token_problem
from worker.http.urls import url_problem

if TYPE_CHECKING:
    from worker.settings import GatewaySettings

__all__ = ["MIN_TOKEN_CHARS", "PATH_PREFIX", "push_url_problem", "token_problem"]

PATH_PREFIX = "/targetsms/state/"


def push_url_problem(url: str, gateway: GatewaySettings) -> str | None:
    """Why the platform could not push to ``url`` (so ``push-register`` refuses it), or None.

    The URL carries the token, so https unless TARGETSMS_ALLOW_HTTP (or a loopback host), and it
    must end in the receiver's path, or every push would be a 404."""
    problem = token_problem(gateway.push_token)
    if problem:
        return problem
    problem = url_problem(
        url, allow_http=gateway.allow_http, http_hint=", or TARGETSMS_ALLOW_HTTP=1"
    )
    if problem:
        return f"push URL {problem}"
    if not url.endswith(PATH_PREFIX + gateway.push_token):
        return f"push URL must end with {PATH_PREFIX}<TARGETSMS_PUSH_TOKEN>"
    return None
