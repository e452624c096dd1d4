"""The worker's settings inside a Django project: the environment, then ``settings.TARGETSMS``."""

from __future__ import annotations

import os
import threading
from typing import Any

from django.conf import settings as django_settings

from worker.runtime import Runtime
from worker.settings import Settings

__all__ = ["DEFAULT_PHONE_FIELD", "load", "options", "runtime"]

#: The user model's field that holds the E.164 number (``TARGETSMS["PHONE_FIELD"]``).
DEFAULT_PHONE_FIELD = "username"
# Keys of TARGETSMS that are the app's own, not worker settings.
_OWN = {"PHONE_FIELD", "CAPTCHA_SITE_KEY", "LOGIN_REDIRECT"}

_lock = threading.Lock()
_runtime: Runtime | None = None


def options() -> dict[str, Any]:
    value = getattr(django_settings, "TARGETSMS", {})
    return dict(value) if isinstance(value, dict) else {}


def load() -> Settings:
    """``SettingsError`` lists every problem, as ``targetsms check`` does."""
    merged = {**os.environ, **{k: str(v) for k, v in options().items() if k not in _OWN}}
    return Settings.from_env(merged)


def runtime() -> Runtime:
    """One Runtime per process, built on first use (a page that never sends builds none)."""
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = Runtime.from_settings(load())
        return _runtime
