"""Magic phone numbers: each one forces one gateway outcome, so every status and error is
reproducible on demand without real credentials or real phones.

All numbers are well-formed Russian mobiles ``+7999000XXXX`` so that client-side phone validation
accepts them; they may belong to real subscribers, so never use them against the real gateway.
Any other well-formed phone behaves normally: success, ``send``, then ``deliver`` after
``--deliver-after-ms``. ``MAGIC_PHONES`` is the single source of truth; the README table is
generated from it (``describe_magic_phones``). Random fault knobs never apply to magic numbers.

The error texts the sandbox answers live here too, each marked with where it comes from:
*documented* (the guide or the platform's XML documentation), *seen* (on the platform, quoted
by public clients) or *invented* (no source shows the platform's wording: a client must not
match on these).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = [
    "INVENTED_TEXTS",
    "MAGIC_PHONES",
    "Fault",
    "MagicPhone",
    "describe_magic_phones",
    "lookup",
]


# -- error texts -------------------------------------------------------------------------------

# Documented: the platform's XML documentation (and, for the send host, the guide's own sample).
E_NO_POST = "POST данные отсутствуют"
E_BAD_XML = "Неправильный формат XML документа"
E_SEND_CREDENTIALS = "Неверный логин или пароль"  # the guide's sample, on the send host
E_PLATFORM_CREDENTIALS = "Неправильный логин или пароль"  # the XML docs, on state/balance
E_NO_PHONE = "Укажите номер телефона."
E_LONG_PHONE = "Номер телефона должен быть меньше 15 символов."
E_NO_FUNDS = "Закончились SMS."
# Seen on the platform, quoted by public clients.
E_NO_SENDER = "Нет отправителя."
E_DUPLICATE = "Попытка отправки более одного одинакового запроса в течение минуты"
E_ALREADY_SENT = "Данное сообщение уже было отправлено."  # another duplicate refusal
# The platform keeps the SMS and sends it after a top-up. The source cuts the text after
# "счет"; the full stop is ours.
E_NO_FUNDS_QUEUED = (
    "Недостаточно средств для отправки SMS. SMS будет отправлена как только вы пополните счет."
)
# Invented: no source shows the wording.
E_BAD_PHONE = (
    "Неверный формат номера телефона. Укажите номер в международном формате: +79001234567."
)
E_NO_PLACEHOLDER = "Текст сообщения должен содержать переменную {код}."
E_BAD_LENGTH = "Количество цифр в коде (random_string_len) должно быть целым числом от 1 до 10."
E_NO_IDS = "Не указан ни один id_sms."
E_UNKNOWN_ID = "Сообщение с таким ID не найдено"
E_INTERNAL = "Внутренняя ошибка"

INVENTED_TEXTS: frozenset[str] = frozenset(
    {E_BAD_PHONE, E_NO_PLACEHOLDER, E_BAD_LENGTH, E_NO_IDS, E_UNKNOWN_ID, E_INTERNAL}
)


class Fault(Enum):
    """A send whose answer is not a plain success.

    The first four do not go out: nothing reaches the outbox, nothing is charged. The last
    three DID go out (outbox, balance, duplicate window) and the answer is what goes wrong:
    the client cannot know the SMS was sent, which is the case it must be careful with.
    """

    CONNECTION_ERROR = "connection_error"  # <success ... status="connection_error"/>
    HANG = "hang"  # never answer; the client's read timeout must fire
    HTML = "html"  # HTTP 502 with an nginx-style HTML page
    MALFORMED = "malformed"  # HTTP 200 with a truncated XML body
    TRICKLE = "trickle"  # sent; the success answer dribbles out a byte every --trickle-ms
    LOST = "lost"  # sent; HTTP 200 with the answer truncated
    SHORT_CODE = "short_code"  # sent; the success carries a 1-digit code, the SMS the real one

    @property
    def sent(self) -> bool:
        return self in (Fault.TRICKLE, Fault.LOST, Fault.SHORT_CODE)


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
    f"{_BASE}0200": _error(E_SEND_CREDENTIALS, "Error: bad credentials."),
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
        E_DUPLICATE,
        "Error: identical request within a minute, always (the real rule is on by default for "
        "every phone; see `--no-duplicate-window`).",
    ),
    f"{_BASE}0209": _error(E_NO_FUNDS, "Error: SMS package used up."),
    f"{_BASE}0210": _error(E_INTERNAL, "Error: a text no client knows (invented, unclassified)."),
    f"{_BASE}0211": _error(E_ALREADY_SENT, "Error: message already sent (a duplicate refusal)."),
    f"{_BASE}0212": _error(
        E_NO_FUNDS_QUEUED,
        "Error: insufficient funds, the SMS is queued until a top-up (the sandbox never sends it).",
    ),
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
    # Sent and billed, but the answer is what fails: the cases that may cost money twice.
    **_fault_series(
        f"{_BASE}070",
        Fault.TRICKLE,
        "Sent; the answer always trickles out a byte every `--trickle-ms`.",
        "Sent; the answer trickles on the first {sends}, then a plain success.",
    ),
    **_fault_series(
        f"{_BASE}080",
        Fault.LOST,
        "Sent; the answer is always HTTP 200 with truncated XML.",
        "Sent; truncated answer on the first {sends}, then a plain success.",
    ),
    **_fault_series(
        f"{_BASE}090",
        Fault.SHORT_CODE,
        "Sent; the success always carries a 1-digit code (the SMS has the real one).",
        "Sent; a 1-digit code in the answer on the first {sends}, then a plain success.",
    ),
}


def lookup(phone: str) -> MagicPhone | None:
    return MAGIC_PHONES.get(phone)


def describe_magic_phones() -> str:
    """The table as Markdown, for the README:
    ``python -c "from worker.dev.sandbox import describe_magic_phones as d; print(d())"``."""
    lines = ["| phone | outcome |", "|---|---|"]
    lines.extend(f"| `{phone}` | {entry.doc} |" for phone, entry in MAGIC_PHONES.items())
    return "\n".join(lines)
