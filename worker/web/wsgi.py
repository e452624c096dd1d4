"""What every WSGI app here does the same way: read a body no larger than its cap, and name a
status. The push receiver and the HTTP API differ only in the cap and the routes."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

__all__ = ["read_body", "status_line"]


def read_body(environ: dict[str, Any], cap: int) -> bytes | None:
    """The body, or None past ``cap`` bytes by its Content-Length (a 413: read no further)."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > cap:
        return None
    stream = environ["wsgi.input"]
    chunks: list[bytes] = []
    left = max(length, 0)
    while left > 0:
        chunk = stream.read(min(left, 65536))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def status_line(status: int) -> str:
    """``"413 Content Too Large"``: RFC 9110's phrases (Python 3.11 still has the older 413)."""
    if status == 413:
        return "413 Content Too Large"
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Error"
