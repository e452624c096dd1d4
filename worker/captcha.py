"""Server-side captcha checks, done before any SMS is spent.

The widget on the page proves nothing by itself: anyone can post any string as a token, so
``request_code`` asks the captcha provider whether the token is real. The user is waiting, so
every check is one HTTP call with a hard wall-clock timeout (connect, headers and body
together) and no retries. Failures of the provider
(timeout, outage, an answer that is not its JSON) are kept apart from a "no" about the token:
the caller's ``fail_open`` setting decides only the former, never the latter.

Neither the secret nor the token is ever logged, put in an exception or shown in a repr.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

import requests
from urllib3.exceptions import HTTPError, ReadTimeoutError

from worker.http.deadline import call_deadline, watched_session
from worker.http.urls import url_problem

__all__ = [
    "DEFAULT_VERIFY_URLS",
    "MAX_TOKEN_LENGTH",
    "PROVIDERS",
    "CaptchaResult",
    "CaptchaVerifier",
    "SiteverifyVerifier",
    "YandexVerifier",
    "make_verifier",
]

log = logging.getLogger("targetsms.captcha")

PROVIDERS: tuple[str, ...] = ("yandex", "recaptcha", "hcaptcha", "turnstile")

DEFAULT_VERIFY_URLS: dict[str, str] = {
    "yandex": "https://smartcaptcha.yandexcloud.net/validate",
    "recaptcha": "https://www.google.com/recaptcha/api/siteverify",
    "hcaptcha": "https://api.hcaptcha.com/siteverify",
    "turnstile": "https://challenges.cloudflare.com/turnstile/v0/siteverify",
}

#: Real tokens are far shorter (Turnstile documents 2048 at most); anything longer is junk that
#: would only cost us a provider call.
MAX_TOKEN_LENGTH: Final = 4096
#: A verify answer is a few hundred bytes; a bigger one is not the provider's JSON.
_MAX_ANSWER_BYTES: Final = 64 * 1024

Reason = Literal["ok", "invalid", "low_score", "timeout", "unavailable", "malformed"]

# Error codes that mean *our* configuration is wrong, not the user's token: worth a warning,
# because otherwise every user is silently refused as "invalid".
_CONFIG_ERROR_CODES: Final = frozenset(
    {"missing-input-secret", "invalid-input-secret", "sitekey-secret-mismatch"}
)


@dataclass(frozen=True, slots=True)
class CaptchaResult:
    """Outcome of one check. ``ok`` is what to act on; ``reason`` is what to log or count.

    With ``fail_open`` a provider failure comes back as ``ok=True`` with its failure reason
    kept, so callers can tell "passed" from "let through because the provider failed".
    """

    ok: bool
    reason: str  # one of: ok, invalid, low_score, timeout, unavailable, malformed
    score: float | None = None


class CaptchaVerifier(Protocol):
    name: str

    def verify(self, token: str, remote_ip: str | None = None) -> CaptchaResult: ...


class _Malformed(Exception):
    """The answer is not the provider's documented JSON."""


class _DeadlinePassed(Exception):
    """The answer kept arriving past the call's overall timeout."""


class _HTTPVerifier:
    """One form POST to a verify URL; subclasses only build the form and read the answer.

    POST (not GET with a query) for every provider, Yandex included: it is documented for all
    four and keeps the secret and the token out of URLs, where proxies and error texts keep them.
    """

    name: str

    def __init__(
        self,
        name: str,
        secret: str,
        verify_url: str,
        *,
        timeout: float,
        fail_open: bool,
        session: requests.Session,
        min_score: float | None = None,
    ) -> None:
        self.name = name
        self._secret = secret
        self._url = verify_url
        self._timeout = timeout
        self._fail_open = fail_open
        self._session = session
        self._min_score = min_score  # only the siteverify shape has scores

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, url={self._url!r}, "
            f"timeout={self._timeout!r}, fail_open={self._fail_open!r})"
        )

    def verify(self, token: str, remote_ip: str | None = None) -> CaptchaResult:
        """Ask the provider about ``token``; never raises for network or answer trouble."""
        if not token or not token.strip() or len(token) > MAX_TOKEN_LENGTH:
            return CaptchaResult(ok=False, reason="invalid")
        form = self._form(token, _clean_ip(remote_ip))
        try:
            status, body = self._post(form)
        except requests.Timeout:
            return self._provider_failure("timeout")
        except requests.RequestException:
            return self._provider_failure("unavailable")
        except _Malformed:
            return self._provider_failure("malformed")
        if status == 200:
            try:
                return self._interpret(_json_object(body))
            except _Malformed:
                return self._provider_failure("malformed")
        if not _is_outage(status):
            # An explicit "no" is honoured whatever the status; a "yes" off a 200 is not trusted.
            try:
                refusal = self._interpret(_json_object(body))
            except _Malformed:
                pass
            else:
                if not refusal.ok:
                    return refusal
        return self._provider_failure("unavailable")

    # -- for subclasses -------------------------------------------------------------------

    def _form(self, token: str, remote_ip: str | None) -> dict[str, str]:
        raise NotImplementedError

    def _interpret(self, answer: Mapping[str, Any]) -> CaptchaResult:
        raise NotImplementedError

    # -- shared plumbing ------------------------------------------------------------------

    def _post(self, form: Mapping[str, str]) -> tuple[int, bytes]:
        """POST the form; return status and body, all within ``timeout`` of wall-clock time.

        ``requests`` timeouts are per phase (connect, then each socket read): a provider that
        dribbles its headers or body a byte at a time would hold the user for as long as it
        likes. ``call_deadline`` cuts the call's sockets when the time is up (sessions built by
        ``watched_session``, the default); for a caller's own session the body is still read
        against the deadline between socket reads.
        """
        with call_deadline(self._timeout) as call:
            try:
                answer = self._post_within(form, time.monotonic() + self._timeout)
            except requests.RequestException:
                # Cut at the deadline only if a socket was in use: a refusal is still a refusal
                # when a stalled machine let the time run out meanwhile.
                if call.expired and call.connected:
                    raise requests.Timeout from None
                raise
            if call.expired:  # cut mid-answer: what was read may be a stub
                raise requests.Timeout
            return answer

    def _post_within(self, form: Mapping[str, str], deadline: float) -> tuple[int, bytes]:
        with self._session.post(
            self._url,
            data=dict(form),
            headers={"Accept": "application/json"},
            timeout=(self._timeout, self._timeout),
            stream=True,
            allow_redirects=False,  # a redirect is not an answer, and must not move the secret
        ) as response:
            if _is_outage(response.status_code):
                return response.status_code, b""  # nothing in an outage page is worth waiting for
            try:
                return response.status_code, _read_body(response, deadline)
            except (ReadTimeoutError, _DeadlinePassed):
                raise requests.Timeout from None
            except (HTTPError, OSError):
                raise requests.ConnectionError from None

    def _provider_failure(self, reason: Reason) -> CaptchaResult:
        log.warning("captcha provider %s failed: %s", self.name, reason)
        return CaptchaResult(ok=self._fail_open, reason=reason)

    def _config_problem(self) -> None:
        log.warning("captcha provider %s rejected our secret: check the configuration", self.name)


class YandexVerifier(_HTTPVerifier):
    """Yandex SmartCaptcha ``/validate``: form ``secret``, ``token``, ``ip``; answer ``status``.

    Yandex suggests treating non-200 answers as a pass; we report them as provider failures and
    let ``fail_open`` decide instead.
    """

    def _form(self, token: str, remote_ip: str | None) -> dict[str, str]:
        form = {"secret": self._secret, "token": token}
        if remote_ip:
            form["ip"] = remote_ip
        return form

    def _interpret(self, answer: Mapping[str, Any]) -> CaptchaResult:
        status = answer.get("status")
        if status == "ok":
            return CaptchaResult(ok=True, reason="ok")
        if status == "failed":
            message = answer.get("message")
            if isinstance(message, str) and message.startswith("Authentication failed"):
                self._config_problem()
            return CaptchaResult(ok=False, reason="invalid")
        raise _Malformed


class SiteverifyVerifier(_HTTPVerifier):
    """The ``siteverify`` shape shared by reCAPTCHA, hCaptcha and Turnstile.

    Form ``secret``, ``response``, ``remoteip``; answer ``success`` and ``error-codes``.
    With ``min_score`` set (reCAPTCHA), a ``score`` below it is ``low_score``; v2 answers carry
    no score and pass on ``success`` alone. hCaptcha's enterprise score has other semantics and
    Turnstile has none, so they are built without ``min_score``.
    """

    def _form(self, token: str, remote_ip: str | None) -> dict[str, str]:
        form = {"secret": self._secret, "response": token}
        if remote_ip:
            form["remoteip"] = remote_ip
        return form

    def _interpret(self, answer: Mapping[str, Any]) -> CaptchaResult:
        success = answer.get("success")
        if not isinstance(success, bool):
            raise _Malformed
        if not success:
            codes = answer.get("error-codes")
            if isinstance(codes, list) and _CONFIG_ERROR_CODES.intersection(
                c for c in codes if isinstance(c, str)
            ):
                self._config_problem()
            # A "no" stays a "no": odd extra fields must not turn it into a fail-open pass.
            try:
                score = self._score(answer)
            except _Malformed:
                score = None
            return CaptchaResult(ok=False, reason="invalid", score=score)
        score = self._score(answer)
        if score is not None and self._min_score is not None and score < self._min_score:
            return CaptchaResult(ok=False, reason="low_score", score=score)
        return CaptchaResult(ok=True, reason="ok", score=score)

    def _score(self, answer: Mapping[str, Any]) -> float | None:
        if self._min_score is None or answer.get("score") is None:
            return None
        raw = answer["score"]
        # bool is an int subclass; NaN would compare False against any threshold and pass.
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            raise _Malformed
        return float(raw)


def make_verifier(
    provider: str,
    secret: str,
    *,
    verify_url: str | None = None,
    timeout: float = 3.0,
    min_score: float = 0.5,
    fail_open: bool = False,
    session: requests.Session | None = None,
) -> CaptchaVerifier:
    """Build the verifier for ``provider``; settings mistakes fail here, at startup.

    ``verify_url`` overrides the official URL (tests point it at a local stand-in): it must be
    https, or plain http to a loopback host. ``session`` defaults to one pooled session per
    process that ignores proxy environment variables and ``.netrc``.
    """
    if provider not in PROVIDERS:
        raise ValueError(
            f"unknown captcha provider {provider!r}; expected one of {', '.join(PROVIDERS)}"
        )
    if not isinstance(secret, str) or not secret.strip():
        raise ValueError(f"captcha provider {provider!r} needs a non-empty secret key")
    if not (isinstance(timeout, int | float) and math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"captcha timeout must be a positive number of seconds, got {timeout!r}")
    if not (isinstance(min_score, int | float) and 0.0 <= min_score <= 1.0):
        raise ValueError(f"captcha min_score must be between 0.0 and 1.0, got {min_score!r}")
    url = DEFAULT_VERIFY_URLS[provider] if verify_url is None else verify_url
    _check_url(url)
    http = session if session is not None else _shared_session()
    common: dict[str, Any] = {"timeout": float(timeout), "fail_open": fail_open, "session": http}
    if provider == "yandex":
        return YandexVerifier(provider, secret, url, **common)
    if provider == "recaptcha":
        return SiteverifyVerifier(provider, secret, url, min_score=float(min_score), **common)
    return SiteverifyVerifier(provider, secret, url, **common)


def _check_url(url: str) -> None:
    """https only; plain http is allowed for loopback so tests can use a local stand-in."""
    problem = url_problem(url, allow_http=False)
    if problem:
        raise ValueError(f"captcha verify_url {problem}")


def _clean_ip(remote_ip: str | None) -> str | None:
    """Pass the user's IP only when it is one: a bad value must not fail a real user's check."""
    if not remote_ip:
        return None
    try:
        return str(ipaddress.ip_address(remote_ip.strip()))
    except ValueError:
        return None


def _is_outage(status: int) -> bool:
    return status >= 500 or status == 429


def _read_body(response: requests.Response, deadline: float) -> bytes:
    """Read at most ``_MAX_ANSWER_BYTES``, giving up once ``deadline`` has passed.

    ``read1`` returns after a single socket read (each bounded by the read timeout), so the
    deadline is checked between reads; ``read(n)`` would block until n bytes had arrived.
    """
    raw = response.raw
    read = getattr(raw, "read1", None) or raw.read  # read1: urllib3 >= 2.3
    chunks: list[bytes] = []
    size = 0
    while chunk := read(8192, decode_content=True):
        size += len(chunk)
        if size > _MAX_ANSWER_BYTES:
            raise _Malformed
        if time.monotonic() > deadline:
            raise _DeadlinePassed
        chunks.append(chunk)
    return b"".join(chunks)


def _json_object(body: bytes) -> dict[str, Any]:
    """The answer as a JSON object; NaN and Infinity are let through here and judged per field."""
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError):
        raise _Malformed from None
    if not isinstance(answer, dict):
        raise _Malformed
    return answer


_session_lock = threading.Lock()
_session: requests.Session | None = None
_session_pid: int | None = None


def _shared_session() -> requests.Session:
    """One pooled session per process: Celery prefork children must not share parent sockets.
    No proxies or ``.netrc`` from the environment; every call bounded by ``call_deadline``."""
    global _session, _session_pid
    with _session_lock:
        if _session is None or _session_pid != os.getpid():
            _session, _session_pid = watched_session(pool_size=32), os.getpid()
        return _session
