"""The imitated gateway's behaviour, without HTTP: validation, magic phones, faults, the message
store behind ``state``, the balance, the outbox and the counters.

Everything runs on the sandbox's event loop thread, so no locks. Statuses are computed lazily
from the send time (no timer per message), so a send costs tens of microseconds.
"""

from __future__ import annotations

import logging
import math
import random
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from lxml import etree

from worker.dev.sandbox import wire
from worker.dev.sandbox.config import SandboxConfig, push_url_problem
from worker.dev.sandbox.magic import (
    E_BAD_LENGTH,
    E_BAD_PHONE,
    E_BAD_XML,
    E_DUPLICATE,
    E_LONG_PHONE,
    E_NO_FUNDS,
    E_NO_IDS,
    E_NO_PHONE,
    E_NO_PLACEHOLDER,
    E_NO_POST,
    E_NO_SENDER,
    E_PLATFORM_CREDENTIALS,
    E_SEND_CREDENTIALS,
    E_UNKNOWN_ID,
    Fault,
    MagicPhone,
    lookup,
)

__all__ = ["PRICE_PER_PART", "Answer", "Engine", "sms_parts"]

log = logging.getLogger(__name__)

PRICE_PER_PART = Decimal("1.15")
DEFAULT_TEXT = "Временный пароль: {код}"
PLACEHOLDER = "{код}"
# State times are written in Moscow time (UTC+3, no DST since 2014): the docs name no zone, and a
# Russian platform is the likeliest; clients should not assume UTC.
MSK = timezone(timedelta(hours=3), "MSK")
# Real clients send "+79001234567" (the guide) and "79001234567" (the official PHP sample).
_PHONE = re.compile(r"\+?[0-9]{8,15}")
# The platform documents "the phone must be shorter than 15 characters".
_MAX_PHONE_CHARS = 14
_GSM_LIKE = re.compile(r"[\x20-\x7e\r\n]*")


@dataclass(frozen=True, slots=True)
class Answer:
    """An XML document to send, or a transport fault to act out instead."""

    xml: bytes = b""
    fault: Fault | None = None


@dataclass(frozen=True, slots=True)
class _SendRequest:
    login: str
    phone: str  # normalised to "+" and digits, whichever form was sent
    sender: str
    text: str  # still with the {код} placeholder
    length: int
    num_parts: int


@dataclass(slots=True)
class _Message:
    id_sms: str
    phone: str
    sender: str
    text: str  # with the code substituted: what the phone would display
    code: str
    num_parts: int
    sent_at: float  # epoch seconds
    initial_status: str
    final_status: str | None  # None: stays "send" forever
    change_after: float  # seconds after sent_at at which final_status applies
    state_error: bool
    in_outbox: bool

    def status_at(self, now: float) -> tuple[str, float | None]:
        """Current status and when it last changed (``None`` while ``send``)."""
        if self.initial_status != "send":
            return self.initial_status, self.sent_at
        if self.final_status is None or now - self.sent_at < self.change_after:
            return "send", None
        return self.final_status, self.sent_at + self.change_after


def sms_parts(text: str) -> int:
    """Parts billed for a text: GSM-7-like ASCII 160/153 per part, otherwise UCS-2 70/67."""
    if _GSM_LIKE.fullmatch(text):
        single, multi, units = 160, 153, len(text)
    else:
        single, multi, units = 70, 67, len(text.encode("utf-16-le")) // 2
    return 1 if units <= single else math.ceil(units / multi)


def _msk(ts: float) -> str:
    return datetime.fromtimestamp(ts, MSK).strftime("%Y-%m-%d %H:%M:%S")


def _iso(ts: float | None) -> str | None:
    return (
        None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
    )


def _error(text: str) -> Answer:
    return Answer(wire.answer(wire.error_line(text)))


class Engine:
    def __init__(self, config: SandboxConfig, clock: Callable[[], float] = time.time) -> None:
        self._config = config
        self._clock = clock
        self._rng = random.Random(config.seed)
        self._next_id = 1_712_292_705 + self._rng.randrange(1_000_000)
        self._faults = [
            (config.connection_error_rate, Fault.CONNECTION_ERROR),
            (config.hang_rate, Fault.HANG),
            (config.html_rate, Fault.HTML),
            (config.malformed_rate, Fault.MALFORMED),
        ]
        self._any_fault = any(rate > 0 for rate, _ in self._faults)
        # Push: called with (id_sms, epoch time, <state> element) for each status change due.
        self.on_change: Callable[[str, float, str], None] | None = None
        self.on_push_url: Callable[[str], None] | None = None
        self.reset()

    def reset(self) -> None:
        """Forget messages, outbox, counters, per-phone attempts and the duplicate window;
        refill the balance. ``id_sms`` keeps counting up, so ids stay unique across resets.
        """
        self._accepted: dict[tuple[str, str, str, str, int], float] = {}
        self._messages: dict[str, _Message] = {}
        self._outbox: deque[_Message] = deque()
        self._attempts: dict[str, int] = {}
        self._balance = self._config.balance
        self.stats = {"password_generation": 0, "state": 0, "balance": 0, "state_ids": 0}

    # -- credentials -------------------------------------------------------------------------

    def _credentials_ok(self, login: str | None, password: str | None) -> bool:
        if not login or not password:
            return False
        if self._config.login is None:
            return True
        return login == self._config.login and password == self._config.password

    def _platform_request(self, body: bytes) -> etree._Element | Answer:
        """Parse a state/balance request: credentials are ``value`` attributes there."""
        if not body.strip():
            return _error(E_NO_POST)
        try:
            root = wire.parse_request(body)
        except wire.BadXml:
            return _error(E_BAD_XML)
        login = root.find("security/login")
        password = root.find("security/password")
        if not self._credentials_ok(
            None if login is None else login.get("value"),
            None if password is None else password.get("value"),
        ):
            return _error(E_PLATFORM_CREDENTIALS)
        return root

    # -- password_generation -----------------------------------------------------------------

    def password_generation(self, body: bytes) -> Answer:
        self.stats["password_generation"] += 1
        request = self._read_send(body)
        if isinstance(request, Answer):
            return request
        phone = request.phone
        if self._duplicate(request):
            log.info("send: identical request within the window, refused")
            return _error(E_DUPLICATE)
        magic = lookup(phone)
        fault = self._magic_fault(phone, magic) if magic is not None else self._random_fault()
        if magic is not None and magic.error is not None:
            log.info("send: error (magic number)")
            return _error(magic.error)
        if fault is Fault.CONNECTION_ERROR:  # like the real one: a code and an id, nothing sent
            message = self._record(request, "connection_error", None)
            log.info("send id_sms=%s: connection_error", message.id_sms)
            return self._success(message)
        if fault is not None and not fault.sent:
            log.info("send: %s", fault.value)
            return Answer(fault=fault)
        initial = magic.initial_status if magic is not None else "send"
        final = magic.final_status if magic is not None else "deliver"
        charged = initial != "not_valid_phone"  # an invalid number never went out
        cost = PRICE_PER_PART * request.num_parts
        if charged and self._balance < cost:
            return _error(E_NO_FUNDS)
        message = self._record(request, initial, final, magic is not None and magic.state_error)
        self._accept(request)
        if charged:
            self._balance -= cost
            message.in_outbox = True
            self._outbox.append(message)
        log.info("send id_sms=%s: %s", message.id_sms, initial)
        if fault is Fault.SHORT_CODE:
            line = wire.success_line(message.code[:1], message.id_sms, message.initial_status)
            return Answer(wire.answer(line))
        if fault is not None:  # TRICKLE, LOST: the answer is acted out by the router
            return Answer(self._success(message).xml, fault=fault)
        return self._success(message)

    # -- the duplicate rule ------------------------------------------------------------------

    @staticmethod
    def _identity(request: _SendRequest) -> tuple[str, str, str, str, int]:
        # The number's digits, not its spelling: "+7900..." and "7900..." are one recipient.
        return (request.login, request.phone, request.sender, request.text, request.length)

    def _duplicate(self, request: _SendRequest) -> bool:
        """The platform refuses a request identical (login, phone, sender, text, length) to
        one it accepted less than ``duplicate_window_ms`` earlier (0: the rule is off)."""
        window = self._config.duplicate_window_ms / 1000.0
        if window <= 0:
            return False
        now = self._clock()
        if len(self._accepted) > self._config.max_messages:
            self._accepted = {k: t for k, t in self._accepted.items() if now - t < window}
        accepted = self._accepted.get(self._identity(request))
        return accepted is not None and now - accepted < window

    def _accept(self, request: _SendRequest) -> None:
        if self._config.duplicate_window_ms > 0:
            self._accepted[self._identity(request)] = self._clock()

    def _read_send(self, body: bytes) -> _SendRequest | Answer:
        """Validate a password_generation body in the order a PHP handler would."""
        if not body.strip():
            return _error(E_NO_POST)
        try:
            root = wire.parse_request(body)
        except wire.BadXml:
            return _error(E_BAD_XML)
        fields = wire.children(root)
        security = wire.children(fields.get("security"))
        login = wire.text_of(security.get("login"))
        if not self._credentials_ok(login, wire.text_of(security.get("password"))):
            return _error(E_SEND_CREDENTIALS)
        phone = (wire.text_of(fields.get("phone")) or "").strip()
        if not phone:
            return _error(E_NO_PHONE)
        if len(phone) > _MAX_PHONE_CHARS:
            return _error(E_LONG_PHONE)
        if not _PHONE.fullmatch(phone):
            return _error(E_BAD_PHONE)
        sender = wire.text_of(fields.get("sender"))
        if not sender:
            return _error(E_NO_SENDER)
        length_text = (wire.text_of(fields.get("random_string_len")) or "").strip()
        if not length_text:
            length = 4
        elif length_text.isascii() and length_text.isdigit() and 1 <= int(length_text) <= 10:
            length = int(length_text)
        else:
            return _error(E_BAD_LENGTH)
        text = wire.text_of(fields.get("text"))
        if text is None or not text.strip():
            # The official PHP sample sends an empty <text> unless told otherwise, and works.
            text = DEFAULT_TEXT
        elif PLACEHOLDER not in text:
            return _error(E_NO_PLACEHOLDER)
        parts = sms_parts(text.replace(PLACEHOLDER, "0" * length))  # any code of that length
        return _SendRequest(login or "", "+" + phone.lstrip("+"), sender, text, length, parts)

    def _magic_fault(self, phone: str, magic: MagicPhone) -> Fault | None:
        if magic.fault is None:
            return None
        attempt = self._attempts.get(phone, 0) + 1
        self._attempts[phone] = attempt
        if magic.fault_times is None or attempt <= magic.fault_times:
            return magic.fault
        return None

    def _random_fault(self) -> Fault | None:
        if not self._any_fault:
            return None  # draw nothing: the seeded code sequence stays the same without faults
        draw = self._rng.random()
        for rate, fault in self._faults:
            if draw < rate:
                return fault
            draw -= rate
        return None

    def _record(
        self, request: _SendRequest, initial: str, final: str | None, state_error: bool = False
    ) -> _Message:
        code = "".join(self._rng.choices("0123456789", k=request.length))
        id_sms = str(self._next_id)
        self._next_id += 1
        message = _Message(
            id_sms=id_sms,
            phone=request.phone,
            sender=request.sender,
            text=request.text.replace(PLACEHOLDER, code),
            code=code,
            num_parts=request.num_parts,
            sent_at=self._clock(),
            initial_status=initial,
            final_status=final,
            change_after=self._config.deliver_after_ms / 1000.0,
            state_error=state_error,
            in_outbox=False,
        )
        self._messages[id_sms] = message
        self._forget_oldest()
        if self.on_change is not None:
            self._announce(message)
        return message

    def _announce(self, message: _Message) -> None:
        """Tell the pusher when this message's status will change, and to what."""
        assert self.on_change is not None
        if message.initial_status == "send":
            if message.final_status is None:
                return
            status, at = message.final_status, message.sent_at + message.change_after
        elif message.initial_status != "connection_error":  # nothing went out: nothing to say
            status, at = message.initial_status, message.sent_at
        else:
            return
        line = wire.state_line(
            message.id_sms, status, _msk(at), message.num_parts, str(PRICE_PER_PART)
        )
        self.on_change(message.id_sms, at, line)

    def _forget_oldest(self) -> None:
        """Bound memory in long benchmarks: the oldest messages leave the store and the outbox."""
        while len(self._messages) > self._config.max_messages:
            oldest = self._messages.pop(next(iter(self._messages)))
            if oldest.in_outbox and self._outbox and self._outbox[0] is oldest:
                self._outbox.popleft()

    @staticmethod
    def _success(message: _Message) -> Answer:
        return Answer(
            wire.answer(wire.success_line(message.code, message.id_sms, message.initial_status))
        )

    # -- state and balance -------------------------------------------------------------------

    def state(self, body: bytes) -> Answer:
        self.stats["state"] += 1
        root = self._platform_request(body)
        if isinstance(root, Answer):
            return root
        ids = [(element.text or "").strip() for element in root.iterfind("get_state/id_sms")]
        if not ids:
            return _error(E_NO_IDS)
        self.stats["state_ids"] += len(ids)
        now = self._clock()
        price = str(PRICE_PER_PART)
        lines = []
        for id_sms in ids:
            message = self._messages.get(id_sms)
            if message is None or message.state_error:
                if self._config.state_batch_error:  # the other possible shape: one error
                    return _error(E_UNKNOWN_ID)
                lines.append(wire.error_line(E_UNKNOWN_ID, id_sms))
                continue
            status, changed = message.status_at(now)
            if changed is None:
                lines.append(wire.state_line(id_sms, status, "", None, price))
            else:
                lines.append(
                    wire.state_line(id_sms, status, _msk(changed), message.num_parts, price)
                )
        return Answer(wire.answer(*lines))

    def set_push_url(self, body: bytes) -> Answer:
        """``get_state.php`` with ``<get_state type="set">URL</get_state>`` ('' = stop)."""
        self.stats["get_state_set"] = self.stats.get("get_state_set", 0) + 1
        root = self._platform_request(body)
        if isinstance(root, Answer):
            return root
        element = root.find("get_state[@type='set']")
        if element is None or self.on_push_url is None:
            return _error(E_BAD_XML)
        url = (element.text or "").strip()
        if url and push_url_problem(url):
            return _error(E_BAD_XML)
        self.on_push_url(url)
        return Answer(wire.answer())

    def balance(self, body: bytes) -> Answer:
        self.stats["balance"] += 1
        root = self._platform_request(body)
        if isinstance(root, Answer):
            return root
        money = f"{self._balance:.2f}"
        return Answer(wire.answer(*wire.balance_lines(money, int(self._balance / PRICE_PER_PART))))

    # -- sandbox-only views ------------------------------------------------------------------

    def outbox(self, phone: str | None = None) -> list[dict[str, object]]:
        now = self._clock()
        items: list[dict[str, object]] = []
        for message in self._outbox:
            if phone is not None and message.phone != phone:
                continue
            status, changed = message.status_at(now)
            items.append(
                {
                    "phone": message.phone,
                    "sender": message.sender,
                    "text": message.text,
                    "code": message.code,
                    "id_sms": message.id_sms,
                    "status": status,
                    "sent_at": _iso(message.sent_at),
                    "status_changed_at": _iso(changed),
                }
            )
        return items
