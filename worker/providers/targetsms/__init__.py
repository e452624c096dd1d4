"""TargetSMS protocol: XML builders and parsers, a pluggable transport, the client, retries.

Nothing here knows about Celery or Redis.
"""

from worker.core.delivery import FINAL_STATUSES, is_final
from worker.http.transport import HTTPResponse, RequestsTransport, Timeout, Transport
from worker.providers.models import Balance, SendResult, StateEntry
from worker.providers.retry import MAX_MAYBE_SENT, MaybeSent, RetryPolicy, call_with_retries
from worker.providers.targetsms.client import DEFAULT_SEND_URL, DEFAULT_STATE_URL, TargetSMSClient
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
