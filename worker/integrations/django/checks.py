"""``manage.py check``: every settings problem, one message each, as ``targetsms check``."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, register

from worker.errors import SettingsError
from worker.integrations.django import conf


@register()
def settings_problems(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    try:
        conf.load()
    except SettingsError as exc:
        return [
            Error(problem, hint="set it in the environment or TARGETSMS", id=f"targetsms.E{n:03d}")
            for n, problem in enumerate(exc.problems, 1)
        ]
    field = conf.options().get("PHONE_FIELD", conf.DEFAULT_PHONE_FIELD)
    from django.contrib.auth import get_user_model

    names = {f.name for f in get_user_model()._meta.get_fields()}
    if field not in names:
        return [Error(f"TARGETSMS PHONE_FIELD {field!r} is not a field of the user model",
                      id="targetsms.E100")]  # fmt: skip
    return []
