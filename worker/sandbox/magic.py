"""Magic phone numbers: each one forces one gateway outcome, so every status and error is
reproducible on demand without real credentials or real phones.

All numbers are well-formed Russian mobiles ``+7999000XXXX`` so that client-side phone validation
accepts them; they may belong to real subscribers, so never use them against the real gateway.
Any other well-formed phone behaves normally: success, ``send``, then ``deliver`` after
``--deliver-after-ms``. ``MAGIC_PHONES`` is the single source of truth; the README table is
generated from it (``describe_magic_phones``). Random fault knobs never apply to magic numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = [
    "MAGIC_PHONES",
    "Fault",
    "MagicPhone",
    "describe_magic_phones",
    "lookup",
]


class Fault(Enum):
    """A send that does not go out: nothing reaches the outbox, nothing is charged."""

    CONNECTION_ERROR = "connection_error"  # <success ... status="connection_error"/>
    HANG = "hang"  # never answer; the client's read timeout must fire
    HTML = "html"  # HTTP 502 with an nginx-style HTML page
    MALFORMED = "malformed"  # HTTP 200 with a truncated XML body


@dataclass(frozen=True, slots=True)
class MagicPhone:
    """What the sandbox does for one phone number.

    ``fault`` with ``fault_times=None`` fails every time; with ``N`` the first N
    ``password_generation`` requests for the phone fail and later ones succeed (the counter is
    per phone and cleared by ``POST /sandbox/reset``). ``error`` answers ``<error>`` with that
    text. Otherwise the send succeeds with ``initial_status``; when that is ``send`` the state
    turns into ``final_status`` after ``--deliver-after-ms`` (``None``: stays ``send`` forever).
    ``state_error`` makes every later ``state`` query for the id answer a per-id ``<error>``.
    """

    doc: str
    initial_status: str = "send"
    final_status: str | None = "deliver"
    error: str | None = None
    fault: Fault | None = None
    fault_times: int | None = None
    state_error: bool = False


def _status(initial: str, final: str | None, doc: str) -> MagicPhone:
    return MagicPhone(doc=doc, initial_status=initial, final_status=final)


def _error(text: str, doc: str) -> MagicPhone:
    return MagicPhone(doc=doc, error=text)


def _sends(n: int) -> str:
    return "send" if n == 1 else f"{n} sends"


def _fault_series(prefix: str, fault: Fault, always: str, first_n: str) -> dict[str, MagicPhone]:
    table = {f"{prefix}0": MagicPhone(doc=always, fault=fault)}
    for n in range(1, 10):
        doc = first_n.format(sends=_sends(n))
        table[f"{prefix}{n}"] = MagicPhone(doc=doc, fault=fault, fault_times=n)
    return table


_BASE = "+7999000"

MAGIC_PHONES: dict[str, MagicPhone] = {
    # Initial statuses other than "send": the final answer comes with the success itself.
    f"{_BASE}0001": _status(
        "not_valid_phone", "not_valid_phone", "Initial status not_valid_phone."
    ),
    f"{_BASE}0002": _status("not_deliver", "not_deliver", "Initial status not_deliver."),
    f"{_BASE}0003": _status("expired", "expired", "Initial status expired."),
    # "send" first, then the state call reports something other than "deliver".
    f"{_BASE}0004": _status("send", "partly_deliver", "send, then state partly_deliver."),
    f"{_BASE}0005": _status("send", "not_deliver", "send, then state not_deliver."),
    f"{_BASE}0006": _status("send", "expired", "send, then state expired."),
    f"{_BASE}0007": _status("send", None, "send, and the state stays send forever."),
    f"{_BASE}0008": _status("send", "read", "send, then the undocumented status read."),
    # connection_error: the gateway could not pass the message on; a retry may succeed.
    **{
        f"{_BASE}010{n}": MagicPhone(
            doc=f"Status `connection_error` on the first {_sends(n)}, then success.",
            fault=Fault.CONNECTION_ERROR,
            fault_times=n,
        )
        for n in range(1, 10)
    },
    # Request-level <error> texts, as the platform words them.
    f"{_BASE}0200": _error("Неверный логин или пароль", "Error: bad credentials."),
    f"{_BASE}0201": _error("Аккаунт заблокирован.", "Error: account blocked."),
    f"{_BASE}0202": _error("Недостаточно средств для отправки SMS.", "Error: insufficient funds."),
    f"{_BASE}0203": _error("Такого отправителя Нет.", "Error: unknown sender."),
    f"{_BASE}0204": _error("Отправитель не прошел модерацию.", "Error: sender not approved."),
    f"{_BASE}0205": _error(
        "Номер телефона присутствует в стоп-листе.", "Error: phone is on the stop list."
    ),
    f"{_BASE}0206": _error(
        "Данное направление закрыто для вас.", "Error: destination closed for the account."
    ),
    f"{_BASE}0207": _error(
        "Текст SMS отклонен модератором.", "Error: text rejected by the moderator."
    ),
    f"{_BASE}0208": _error(
        "Попытка отправки более одного одинакового запроса в течение минуты",
        "Error: identical request within a minute.",
    ),
    f"{_BASE}0209": _error("Закончились SMS.", "Error: SMS package used up."),
    f"{_BASE}0210": _error("Внутренняя ошибка", "Error: a text no client knows (unclassified)."),
    # Transport faults.
    **_fault_series(
        f"{_BASE}030",
        Fault.HANG,
        "Never answers (hangs until the client gives up).",
        "Hangs on the first {sends}, then success.",
    ),
    **_fault_series(
        f"{_BASE}040",
        Fault.HTML,
        "Always HTTP 502 with an HTML page.",
        "HTTP 502 HTML page on the first {sends}, then success.",
    ),
    **_fault_series(
        f"{_BASE}050",
        Fault.MALFORMED,
        "Always HTTP 200 with truncated XML.",
        "Truncated XML on the first {sends}, then success.",
    ),
    f"{_BASE}0600": MagicPhone(
        doc="Success, but every state query for its id answers a per-id `<error>`.",
        state_error=True,
    ),
}


def lookup(phone: str) -> MagicPhone | None:
    return MAGIC_PHONES.get(phone)


def describe_magic_phones() -> str:
    """The table as Markdown, for the README:
    ``python -c "from worker.sandbox import describe_magic_phones as d; print(d())"``."""
    lines = ["| phone | outcome |", "|---|---|"]
    lines.extend(f"| `{phone}` | {entry.doc} |" for phone, entry in MAGIC_PHONES.items())
    return "\n".join(lines)
