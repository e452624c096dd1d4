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
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import check_header_validity

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
    """``requests`` with a connection pool sized for the worker's concurrency.

    A call goes straight to the session's transport adapter (requests' ``HTTPAdapter.send``)
    with a request whose URL and default headers were prepared once per URL by the session
    itself. ``Session.request`` would redo that work on every call (merging settings, the
    environment, cookies and hooks, parsing the URL again), about a third of this transport's
    CPU per SMS in BENCHMARKS.md's profile. What goes on the wire is the same, except that no
    cookie a server sets is sent back: the APIs we call are stateless. The pool, TLS
    verification, timeouts and the errors are ``requests``' own."""

    # URLs a transport keeps prepared: the provider has four, a webhook relay one per site.
    _MAX_PREPARED = 256

    def __init__(self, *, pool_size: int = 32, verify: bool | str = True) -> None:
        # Retries are tenacity's job, one level up, where the deadline is known.
        self._session = watched_session(pool_size=pool_size, verify=verify)
        self._verify = verify
        self._prepared: dict[str, tuple[str, CaseInsensitiveDict[str], BaseAdapter]] = {}

    def _target(self, url: str) -> tuple[str, CaseInsensitiveDict[str], BaseAdapter]:
        """The prepared URL, the session's default headers and the adapter for ``url``."""
        found = self._prepared.get(url)
        if found is None:
            template = self._session.prepare_request(requests.Request("POST", url))
            assert template.url is not None
            headers: CaseInsensitiveDict[str] = CaseInsensitiveDict(template.headers)
            headers.pop("Content-Length", None)
            found = (template.url, headers, self._session.get_adapter(template.url))
            if len(self._prepared) >= self._MAX_PREPARED:
                self._prepared.clear()
            self._prepared[url] = found
        return found

    def _request(
        self, url: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[requests.PreparedRequest, BaseAdapter]:
        """What ``Session.prepare_request`` builds for these bytes, without its per-call work."""
        prepared_url, defaults, adapter = self._target(url)
        request = requests.PreparedRequest()
        request.method = "POST"
        request.url = prepared_url
        merged = defaults.copy()
        for header in headers.items():
            check_header_validity(header)  # a header value may not smuggle a line break
            merged[header[0]] = header[1]
        merged["Content-Length"] = str(len(body))
        request.headers = merged
        request.body = body or None
        return request, adapter

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: Timeout, max_bytes: int
    ) -> HTTPResponse:
        status = 0
        with call_deadline(timeout.overall) as call:
            try:
                request, adapter = self._request(url, body, headers)
                with adapter.send(
                    request,
                    stream=True,
                    timeout=(timeout.connect, timeout.read),
                    verify=self._verify,
                    cert=None,
                    proxies={},
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
