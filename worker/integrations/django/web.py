"""The request's client address, as ``worker.integrations.common`` decides it."""

from __future__ import annotations

from django.http import HttpRequest

from worker.integrations import common
from worker.integrations.django import conf


def client_ip(request: HttpRequest) -> str | None:
    peer = request.META.get("REMOTE_ADDR")
    return common.client_address(conf.runtime().settings, peer, request.headers.get) or None
