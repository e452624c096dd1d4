"""An SMS provider in memory, for the unit and service tests (httpx's ``MockTransport`` idea).

It keeps what a phone would have received in ``outbox``, answers statuses from ``statuses``, and
plays whatever a test queues in ``failures``: no socket, no thread, no sleep. It can act out
every answer the send step must handle: a transient error, a permanent rejection, an answer
lost after the SMS went out (``AnswerLost``), and the duplicate refusal with its window
(``duplicate_window_seconds``, read on the injected ``clock``).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from worker.core.phone import Phone
from worker.errors import DuplicateRequest, GatewayError, InvalidRequest, ProtocolError
from worker.providers.models import Balance, SendResult, StateEntry

__all__ = ["DUPLICATE_TEXT", "AnswerLost", "InMemoryProvider", "SentMessage"]

DUPLICATE_TEXT = "identical request within the duplicate window"


@dataclass(frozen=True, slots=True)
class SentMessage:
    phone: str = field(repr=False)
    text: str = field(repr=False)
    code: str = field(repr=False)
    id_sms: str


def _cut_short() -> GatewayError:
    return ProtocolError("answer cut short after the request went out", maybe_sent=True)


@dataclass(frozen=True, slots=True)
class AnswerLost:
    """A queued answer: the SMS goes out (outbox, duplicate window), but the caller gets
    ``error``, a ``maybe_sent`` one (a cut answer by default)."""

    error: GatewayError = field(default_factory=_cut_short)

    def __post_init__(self) -> None:
        if not self.error.maybe_sent:
            raise ValueError("an answer lost after the SMS went out must be maybe_sent")


@dataclass
class InMemoryProvider:
    """``SmsProvider`` without a network: every send succeeds unless ``failures`` says not.

    ``failures`` is consumed one per ``send_code`` call, first in first out: a ``GatewayError``
    is raised with nothing sent, an ``AnswerLost`` sends and then raises its error. With
    ``duplicate_window_seconds`` above 0, a send identical (phone, text, code length) to one that
    went out less than that long before, by ``clock``, is refused with ``DuplicateRequest`` as
    TargetSMS does, before ``failures`` is read (a refusal consumes none). ``statuses`` maps an
    id to the status ``get_state`` answers (``send`` when absent), and ``state_requests`` keeps
    the ids of each ``get_state`` call, so a test can tell one batch from many."""

    balance_money: Decimal = Decimal("1000")
    outbox: list[SentMessage] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)
    failures: deque[GatewayError | AnswerLost] = field(default_factory=deque)
    duplicate_window_seconds: float = 0.0  # 0: no duplicate rule
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    state_requests: list[tuple[str, ...]] = field(default_factory=list)
    push_url: str | None = None
    calls: int = 0
    _went_out: dict[tuple[str, str, int], float] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def send_code(
        self, phone: str | Phone, *, text: str, code_length: int, time_left: float | None = None
    ) -> SendResult:
        """A ``Phone`` goes out as its E.164 number; a string as it is (tests pass E.164)."""
        if isinstance(phone, Phone):
            phone = phone.e164
        if "{код}" not in text:
            raise InvalidRequest("message text must contain {код}")
        with self._lock:
            self.calls += 1
            if self._duplicate((phone, text, code_length)):
                raise DuplicateRequest(DUPLICATE_TEXT, retry_after=self.duplicate_window_seconds)
            answer = self.failures.popleft() if self.failures else None
            if isinstance(answer, GatewayError):
                raise answer
            result = self._send(phone, text, code_length)
        if isinstance(answer, AnswerLost):
            raise answer.error
        return result

    def _duplicate(self, request: tuple[str, str, int]) -> bool:
        went_out = self._went_out.get(request)
        window = self.duplicate_window_seconds
        return window > 0 and went_out is not None and self.clock() - went_out < window

    def _send(self, phone: str, text: str, code_length: int) -> SendResult:
        code = "".join(secrets.choice("0123456789") for _ in range(code_length))
        id_sms = str(len(self.outbox) + 1)
        self.outbox.append(SentMessage(phone, text.replace("{код}", code), code, id_sms))
        self._went_out[(phone, text, code_length)] = self.clock()
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
