from __future__ import annotations

from django.apps import AppConfig


class TargetSMSConfig(AppConfig):
    name = "worker.integrations.django"
    label = "targetsms"
    verbose_name = "TargetSMS phone login"

    def ready(self) -> None:
        from worker.integrations.django import checks  # noqa: F401  (registers the check)
