"""Every exception a caller of targetsms-worker may catch, in one tree under one base.

::

    TargetSMSError                      catch-all for this package's expected failures
    ├── SettingsError                   missing or invalid settings (``problems`` lists each)
    ├── RequestRefused                  request or resend refused (``code``, ``retry_after``)
    ├── VerificationNotFound            (also LookupError) no such verification, or it expired
    ├── InvalidPhone                    (also ValueError) not a number we may send an SMS to
    ├── ServiceUnavailable              Redis or the broker is away; nothing was spent
    │   ├── StoreUnavailable            Redis did not answer (raised inside the package)
    │   └── QueueUnavailable            the broker did not take the message
    └── GatewayError                    the SMS provider's client, by what the caller should do
        ├── TransientError              worth another attempt within the send deadline
        │   ├── NetworkError            connection, DNS, TLS, connect or read timeout
        │   ├── ProtocolError           not the provider's answer: non-2xx, HTML, truncated
        │   └── StatusConnectionError   TargetSMS ``status="connection_error"``
        ├── PermanentError              retrying cannot help
        │   ├── GatewayRejected         an ``<error>`` answer; ``message`` is its own text
        │   │   └── DuplicateRequest    identical to a request accepted < ``retry_after`` s ago
        │   └── DeliveryFailed          accepted, but the first status is already final
        └── InvalidRequest              (also ValueError) our own input; nothing was sent

The producer API (``worker.request_code`` and the rest) raises only ``RequestRefused``,
``ServiceUnavailable`` and ``VerificationNotFound`` (plus ``SettingsError`` on first use with bad
settings); ``GatewayError`` and its subclasses come from the provider client, which workers and
``targetsms`` call. Every message is safe to show: no phone number, code, login or password.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DeliveryFailed",
    "DuplicateRequest",
    "GatewayError",
    "GatewayRejected",
    "InvalidPhone",
    "InvalidRequest",
    "NetworkError",
    "PermanentError",
    "ProtocolError",
    "QueueUnavailable",
    "RequestRefused",
    "ServiceUnavailable",
    "SettingsError",
    "StatusConnectionError",
    "StoreUnavailable",
    "TargetSMSError",
    "TransientError",
    "VerificationNotFound",
]


class TargetSMSError(Exception):
    """Base of every exception this package raises on purpose; ``code`` is stable."""

    code: str = "error"


class SettingsError(TargetSMSError):
    """Settings are missing or invalid; ``problems`` lists each, ``str()`` is one line."""

    code = "invalid_settings"

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid settings: " + "; ".join(problems))


class RequestRefused(TargetSMSError):
    """An expected refusal; ``code`` is a ``RefusalCode`` (a plain string to compare with)."""

    def __init__(self, code: str, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.retry_after is not None:
            out["retry_after"] = self.retry_after
        return out


class VerificationNotFound(TargetSMSError, LookupError):
    """No such verification (never existed, or its record expired)."""

    code = "not_found"


class InvalidPhone(TargetSMSError, ValueError):
    """The input is not a phone number we may send an SMS to. Never echoes the number."""

    code = "invalid_phone"


class ServiceUnavailable(TargetSMSError):
    """Redis or the broker is unreachable; nothing was queued and no limit was spent."""

    code = "unavailable"


class StoreUnavailable(ServiceUnavailable):
    """Redis did not answer (down, unreachable, loading, timed out). Names where, never how
    to log in: the text is safe to show."""


class QueueUnavailable(ServiceUnavailable):
    """The broker did not take the message (down or unreachable); nothing was queued."""


class GatewayError(TargetSMSError):
    """Base of every error an SMS provider's client raises; ``code`` is stable, ``message``
    human. ``maybe_sent``: an SMS may have gone out all the same (each such answer may have
    been billed, so the caller spends only a small budget of them)."""

    code: str = "gateway_error"
    transient: bool = False

    def __init__(self, message: str, *, code: str | None = None, maybe_sent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.maybe_sent = maybe_sent
        if code is not None:
            self.code = code

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, "
            f"maybe_sent={self.maybe_sent!r})"
        )


class TransientError(GatewayError):
    """Worth another attempt within the send deadline."""

    transient = True


class NetworkError(TransientError):
    """Connection refused or reset, DNS, TLS, connect or read timeout."""

    code = "network_error"


class ProtocolError(TransientError):
    """The answer is not the provider's: non-2xx, HTML, empty, truncated, oversized, DTD."""

    code = "protocol_error"


class StatusConnectionError(TransientError):
    """The gateway answered ``status="connection_error"``: the SMS did not go out."""

    code = "connection_error"


class PermanentError(GatewayError):
    """Retrying cannot help: credentials, account, sender, recipient or text problems."""


class GatewayRejected(PermanentError):
    """The provider answered with an error; ``message`` keeps its own (Russian) text."""


class DuplicateRequest(GatewayRejected):
    """The provider refuses a request identical to one it accepted less than ``retry_after``
    seconds before. If that one was ours, an SMS went out with a code we never learned: the
    sender may wait the window out, counted from that request, and ask again."""

    code = "duplicate_request"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"{type(self).__name__}(message={self.message!r}, retry_after={self.retry_after!r})"


class DeliveryFailed(PermanentError):
    """The provider accepted the request but reports a final failure as the initial status."""

    def __init__(self, message: str, *, code: str, id_sms: str, status: str) -> None:
        super().__init__(message, code=code)
        self.id_sms = id_sms
        self.status = status


class InvalidRequest(GatewayError, ValueError):
    """Our own input is unusable (phone, sender, text, code length): nothing was sent."""

    code = "invalid_request"
