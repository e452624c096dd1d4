"""Which outbound URLs we may send secrets to: one rule for the providers, captcha and push."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = ["url_problem"]


def url_problem(url: str, *, allow_http: bool, http_hint: str = "") -> str | None:
    """Why ``url`` is unusable for a service we send secrets to, or None.

    https only; plain http to a loopback host (local stand-ins), or anywhere when
    ``allow_http``. Nothing may ride in the URL itself: it shows up in reprs and errors.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not host:
        return "must be an http(s) URL with a host"
    if parts.username or parts.password or parts.query or parts.fragment:
        return "must not carry credentials, a query or a fragment"
    if parts.scheme == "http" and not allow_http and not _is_loopback(host):
        return f"must use https (plain http only to a loopback host{http_hint})"
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
