"""``authenticate(request, verification_id=..., code=...)``: the user of the verified phone."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import BaseBackend
from django.http import HttpRequest

from worker.api.producer import verify_code
from worker.api.results import VerifyResult
from worker.integrations.django import conf
from worker.integrations.django.signals import phone_verified
from worker.integrations.django.web import client_ip

__all__ = ["PhoneBackend"]


class PhoneBackend(BaseBackend):
    """Finds or creates the user whose ``PHONE_FIELD`` is the number the code proved (never a
    number the form or the session names). ``request.targetsms_result`` keeps the verdict."""

    def authenticate(
        self,
        request: HttpRequest | None,
        verification_id: str | None = None,
        code: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if verification_id is None or code is None:
            return None
        ip = client_ip(request) if request is not None else None
        result: VerifyResult = verify_code(
            verification_id, code, client_ip=ip, runtime=conf.runtime()
        )
        if request is not None:
            request.targetsms_result = result  # type: ignore[attr-defined]
        if not result.ok or result.phone is None:
            return None
        field = str(conf.options().get("PHONE_FIELD", conf.DEFAULT_PHONE_FIELD))
        lookup: dict[str, Any] = {field: result.phone}
        user, created = get_user_model()._default_manager.get_or_create(**lookup)
        phone_verified.send(
            sender=type(self), user=user, phone=result.phone, request=request, created=created
        )
        return user

    def get_user(self, user_id: Any) -> Any:
        model = get_user_model()
        try:
            return model._default_manager.get(pk=user_id)
        except model.DoesNotExist:
            return None
