"""Where a Redis or broker URL points, for error messages: host and port, never a password."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["endpoint"]

_DEFAULT_PORTS = {
    "redis": 6379,
    "rediss": 6379,
    "amqp": 5672,
    "pyamqp": 5672,
    "amqps": 5671,
    "sentinel": 26379,
}


def endpoint(url: str) -> str:
    """``host:port`` of each URL in ``url`` (kombu allows several, ``;``-separated); a socket
    path for ``unix://``. User names, passwords, databases and query strings are left out."""
    return ", ".join(_one(part.strip()) for part in url.split(";") if part.strip()) or "?"


def _one(url: str) -> str:
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.split("+")[-1].lower()
        if scheme in ("unix", "socket"):
            return f"unix:{parts.path}"
        host = parts.hostname or "localhost"
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:  # a malformed port: say which host, nothing else
        host, port = (urlsplit(url).hostname or "?"), None
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}" if port else host
