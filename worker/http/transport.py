"""The HTTP leg, as a small interface beside the client (the httpx way).

The client only needs "POST these bytes, give me status and body"; keeping that behind a
protocol lets tests and benchmarks plug in their own without patching the client. The default
pools connections, verifies TLS, reads at most ``max_bytes``, and bounds every call three ways:
a connect timeout, a read timeout (the longest silence between two reads) and one wall-clock
limit for the whole call (``deadline.call_deadline``), so a gateway that dribbles its answer
cannot hold a send past its deadline or its lock. Every ``requests`` failure becomes a
``NetworkError`` (which never names the body, where the password travels), marked
``maybe_sent`` when the request had reached the gateway and no complete answer came back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import requests

from worker.errors import NetworkError, ProtocolError
from worker.http.deadline import call_deadline, watched_session

__all__ = ["HTTPResponse", "RequestsTransport", "Timeout", "Transport"]


@dataclass(frozen=True, slots=True)
class Timeout:
    """``connect`` and ``read`` per phase; ``total`` for the whole call (default: their sum)."""

    connect: float = 3.05
    read: float = 10.0
    total: float | None = None

    @property
    def overall(self) -> float:
        return self.connect + self.read if self.total is None else self.total

    def capped(self, seconds_left: float) -> Timeout:
        """Never wait past the caller's deadline, but always give a request a moment."""
        floor = 0.05
        return Timeout(
            connect=max(floor, min(self.connect, seconds_left)),
            read=max(floor, min(self.read, seconds_left)),
            total=max(floor, min(self.overall, seconds_left)),
        )


@dataclass(frozen=True, slots=True)
class HTTPResponse:
    status: int
    body: bytes
    content_type: str = ""


class Transport(Protocol):
    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: Timeout, max_bytes: int
    ) -> HTTPResponse: ...

    def close(self) -> None: ...


class RequestsTransport:
    """``requests`` with a connection pool sized for the worker's concurrency."""

    def __init__(self, *, pool_size: int = 32, verify: bool | str = True) -> None:
        # Retries are tenacity's job, one level up, where the deadline is known.
        self._session = watched_session(pool_size=pool_size, verify=verify)

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: Timeout, max_bytes: int
    ) -> HTTPResponse:
        status = 0
        with call_deadline(timeout.overall) as call:
            try:
                with self._session.post(
                    url,
                    data=body,
                    headers=dict(headers),
                    timeout=(timeout.connect, timeout.read),
                    stream=True,
                    allow_redirects=False,
                ) as response:
                    status = response.status_code
                    chunks: list[bytes] = []
                    size = 0
                    for chunk in response.iter_content(chunk_size=16384):
                        size += len(chunk)
                        if size > max_bytes:
                            raise ProtocolError(
                                f"answer larger than {max_bytes} bytes",
                                maybe_sent=200 <= status < 300,
                            )
                        chunks.append(chunk)
                    if call.expired:  # cut at the deadline: what was read may be a stub
                        raise requests.Timeout
                    return HTTPResponse(
                        status=status,
                        body=b"".join(chunks),
                        content_type=response.headers.get("Content-Type", ""),
                    )
            except requests.ConnectTimeout as exc:
                raise NetworkError(
                    "gateway did not accept a connection in time", code="timeout"
                ) from exc
            except requests.RequestException as exc:
                # Once a request is on the wire, only a complete answer says whether it went out.
                if call.expired or isinstance(exc, requests.Timeout):
                    raise NetworkError(
                        f"gateway gave no complete answer within {timeout.overall:.1f} s",
                        code="timeout",
                        maybe_sent=call.connected,
                    ) from None
                # Refused, reset or closed before any status line: nothing was accepted (a pooled
                # connection the gateway had closed looks like this too).
                raise NetworkError(
                    f"gateway unreachable ({type(exc).__name__})",
                    maybe_sent=200 <= status < 300,
                ) from None

    def close(self) -> None:
        self._session.close()
