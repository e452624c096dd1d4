"""What the worker asks of an SMS provider: four calls, plain results, errors by what to do.

TargetSMS (``worker.providers.targetsms``) is today's provider and ``worker.providers.memory``
the one the unit and service tests use. A second provider is one package beside them that
satisfies ``SmsProvider`` and one settings group; the steps and the API never change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from worker.core.phone import Phone
from worker.providers.models import Balance, SendResult, StateEntry

__all__ = ["SmsProvider"]


class SmsProvider(Protocol):
    """An SMS-authorization service that generates the code itself and tells us which one.

    Every call raises only ``worker.errors.GatewayError`` subclasses (``TransientError`` worth
    a retry, ``PermanentError`` not, ``InvalidRequest`` for our own bad input); ``time_left``
    bounds the call in seconds (the send deadline)."""

    def send_code(
        self, phone: str | Phone, *, text: str, code_length: int, time_left: float | None = None
    ) -> SendResult:
        """Have the provider generate a code of ``code_length`` digits and send ``text`` with
        it to ``phone``; the result carries the code and the message's id.

        A ``Phone`` is a number ``parse_phone`` accepted (the send step builds it from the
        record, which holds nothing else) and is sent as it is; a string (E.164) is checked
        first, as a caller outside the pipeline may pass anything."""
        ...

    def get_state(self, ids: Sequence[str], *, time_left: float | None = None) -> list[StateEntry]:
        """Delivery statuses of these message ids (missing ones are polled again later)."""
        ...

    def balance(self, *, time_left: float | None = None) -> Balance:
        """The account's balance."""
        ...

    def set_push_url(self, url: str | None, *, time_left: float | None = None) -> None:
        """Where the provider pushes delivery statuses (None: stop pushing)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
