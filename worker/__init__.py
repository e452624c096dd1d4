"""targetsms-worker: SMS one-time-code login through TargetSMS, on Celery and Redis.

Web apps call the producer API below; ``celery -A worker worker`` runs the senders. The Celery
app (``worker.app``) is built on first access, so importing the API, the gateway or the sandbox
does not import Celery.
"""

from typing import Any

from worker.api.events import watch as watch_events
from worker.api.producer import (
    CodeRequest,
    RequestRefused,
    ServiceUnavailable,
    VerificationNotFound,
    VerificationStatus,
    VerifyResult,
    cancel,
    get_status,
    request_code,
    resend,
    verify_code,
)
from worker.errors import TargetSMSError
from worker.settings import Settings, SettingsError

__all__ = [
    "CodeRequest",
    "RequestRefused",
    "ServiceUnavailable",
    "Settings",
    "SettingsError",
    "TargetSMSError",
    "VerificationNotFound",
    "VerificationStatus",
    "VerifyResult",
    "app",
    "cancel",
    "celery",
    "get_status",
    "request_code",
    "resend",
    "verify_code",
    "watch_events",
]


def __getattr__(name: str) -> Any:
    """``app`` and ``celery`` (what ``celery -A worker`` looks up), built on first access."""
    if name in ("app", "celery"):
        from worker.runtime import celery_app

        return celery_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
