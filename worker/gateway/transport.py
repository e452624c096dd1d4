"""The HTTP leg, as a small interface beside the client (the httpx way).

The client only needs "POST these bytes, give me status and body"; keeping that behind a
protocol lets tests and benchmarks plug in their own without patching the client. The default
pools connections, verifies TLS, always has connect and read timeouts, reads at most
``max_bytes`` and turns every ``requests`` failure into ``NetworkError`` (which never names
the body, where the password travels).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import requests
from requests.adapters import HTTPAdapter

from .errors import NetworkError, ProtocolError

__all__ = ["HTTPResponse", "RequestsTransport", "Timeout", "Transport"]


@dataclass(frozen=True, slots=True)
class Timeout:
    connect: float = 3.05
    read: float = 10.0

    def capped(self, seconds_left: float) -> Timeout:
        """Never wait past the caller's deadline, but always give a request a moment."""
        floor = 0.05
        return Timeout(
            connect=max(floor, min(self.connect, seconds_left)),
            read=max(floor, min(self.read, seconds_left)),
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
    """``requests.Session`` with a connection pool sized for the worker's concurrency."""

    def __init__(self, *, pool_size: int = 32, verify: bool | str = True) -> None:
        self._session = requests.Session()
        # Retries are tenacity's job, one level up, where the deadline is known.
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.verify = verify
        self._session.trust_env = False  # no surprise proxies or .netrc credentials

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: Timeout, max_bytes: int
    ) -> HTTPResponse:
        try:
            with self._session.post(
                url,
                data=body,
                headers=dict(headers),
                timeout=(timeout.connect, timeout.read),
                stream=True,
                allow_redirects=False,
            ) as response:
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_content(chunk_size=16384):
                    size += len(chunk)
                    if size > max_bytes:
                        raise ProtocolError(f"answer larger than {max_bytes} bytes")
                    chunks.append(chunk)
                return HTTPResponse(
                    status=response.status_code,
                    body=b"".join(chunks),
                    content_type=response.headers.get("Content-Type", ""),
                )
        except requests.Timeout as exc:
            raise NetworkError("gateway timed out", code="timeout") from exc
        except requests.RequestException as exc:
            raise NetworkError(f"gateway unreachable ({type(exc).__name__})") from exc

    def close(self) -> None:
        self._session.close()
