"""targetsms-worker: SMS one-time-code login through TargetSMS, on Celery and Redis.

Web apps call the producer API below; ``celery -A worker worker`` runs the senders.
"""

from .celery_app import app
from .events import watch as watch_events
from .otp import (
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
from .settings import Settings, SettingsError

celery = app

__all__ = [
    "CodeRequest",
    "RequestRefused",
    "ServiceUnavailable",
    "Settings",
    "SettingsError",
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
