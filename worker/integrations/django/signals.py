"""``phone_verified``: sent with ``user``, ``phone`` (E.164) and ``request`` after a login by
code, the user found or just created (``created``)."""

from __future__ import annotations

from django.dispatch import Signal

__all__ = ["phone_verified"]

phone_verified = Signal()
