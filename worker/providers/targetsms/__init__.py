"""TargetSMS protocol: XML builders and parsers, a pluggable transport, the client, retries.

Nothing here knows about Celery or Redis. The transport, the retries and the client load on
first use: reading the settings (every producer, the CLI) needs none of requests, tenacity and
lxml.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from worker.core.delivery import FINAL_STATUSES, is_final
from worker.core.lazy import lazy_names
from worker.providers.models import Balance, SendResult, StateEntry
from worker.providers.targetsms.endpoints import DEFAULT_SEND_URL, DEFAULT_STATE_URL
from worker.providers.targetsms.errors import (
    DeliveryFailed,
    DuplicateRequest,
    GatewayError,
    GatewayRejected,
    InvalidRequest,
    NetworkError,
    PermanentError,
    ProtocolError,
    StatusConnectionError,
    TransientError,
    classify_error_text,
)

# The parts that import requests, tenacity and lxml: loaded when first asked for.
if TYPE_CHECKING:
    from worker.http.transport import HTTPResponse, RequestsTransport, Timeout, Transport
    from worker.providers.retry import MAX_MAYBE_SENT, MaybeSent, RetryPolicy, call_with_retries
    from worker.providers.targetsms.client import TargetSMSClient

__getattr__ = lazy_names(
    __name__,
    {
        "worker.http.transport": ("HTTPResponse", "RequestsTransport", "Timeout", "Transport"),
        "worker.providers.retry": (
            "MAX_MAYBE_SENT",
            "MaybeSent",
            "RetryPolicy",
            "call_with_retries",
        ),
        "worker.providers.targetsms.client": ("TargetSMSClient",),
    },
)

__all__ = [
    "DEFAULT_SEND_URL",
    "DEFAULT_STATE_URL",
    "FINAL_STATUSES",
    "MAX_MAYBE_SENT",
    "Balance",
    "DeliveryFailed",
    "DuplicateRequest",
    "GatewayError",
    "GatewayRejected",
    "HTTPResponse",
    "InvalidRequest",
    "MaybeSent",
    "NetworkError",
    "PermanentError",
    "ProtocolError",
    "RequestsTransport",
    "RetryPolicy",
    "SendResult",
    "StateEntry",
    "StatusConnectionError",
    "TargetSMSClient",
    "Timeout",
    "TransientError",
    "Transport",
    "call_with_retries",
    "classify_error_text",
    "is_final",
]
