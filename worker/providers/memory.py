"""An SMS provider in memory, for the unit and service tests (httpx's ``MockTransport`` idea).

It keeps what a phone would have received in ``outbox``, answers statuses from ``statuses``, and
raises whatever a test queues in ``failures``: no socket, no thread, no clock of its own.
"""

from __future__ import annotations

import secrets
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from worker.errors import GatewayError, InvalidRequest
from worker.providers.models import Balance, SendResult, StateEntry

__all__ = ["InMemoryProvider", "SentMessage"]


@dataclass(frozen=True, slots=True)
class SentMessage:
    phone: str = field(repr=False)
    text: str = field(repr=False)
    code: str = field(repr=False)
    id_sms: str


@dataclass
class InMemoryProvider:
    """``SmsProvider`` without a network: every send succeeds unless ``failures`` says not.

    ``failures`` is consumed one per ``send_code`` call, first in first out; ``statuses`` maps
    an id to the status ``get_state`` answers (``send`` when absent), and ``state_requests``
    keeps the ids of each ``get_state`` call, so a test can tell one batch from many."""

    balance_money: Decimal = Decimal("1000")
    outbox: list[SentMessage] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)
    failures: deque[GatewayError] = field(default_factory=deque)
    state_requests: list[tuple[str, ...]] = field(default_factory=list)
    push_url: str | None = None
    calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def send_code(
        self, phone: str, *, text: str, code_length: int, time_left: float | None = None
    ) -> SendResult:
        if "{код}" not in text:
            raise InvalidRequest("message text must contain {код}")
        with self._lock:
            self.calls += 1
            if self.failures:
                raise self.failures.popleft()
            code = "".join(secrets.choice("0123456789") for _ in range(code_length))
            id_sms = str(len(self.outbox) + 1)
            self.outbox.append(SentMessage(phone, text.replace("{код}", code), code, id_sms))
        return SendResult(code=code, id_sms=id_sms, status="send")

    def get_state(self, ids: Sequence[str], *, time_left: float | None = None) -> list[StateEntry]:
        with self._lock:
            self.state_requests.append(tuple(ids))
            return [StateEntry(id_sms=i, status=self.statuses.get(i, "send")) for i in ids]

    def balance(self, *, time_left: float | None = None) -> Balance:
        return Balance(money=self.balance_money, currency="RUB")

    def set_push_url(self, url: str | None, *, time_left: float | None = None) -> None:
        self.push_url = url

    def close(self) -> None:
        """Nothing to release."""

    def last_code(self, phone: str) -> str:
        """The code of the last SMS to ``phone`` (as the phone's owner would read it)."""
        with self._lock:
            for message in reversed(self.outbox):
                if message.phone == phone:
                    return message.code
        raise LookupError("no SMS to that phone")
