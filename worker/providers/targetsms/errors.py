"""Everything the TargetSMS client raises, split by what the caller should do about it.

``TransientError``: the call failed for a reason that may pass (network, timeouts, 5xx, a body
that is not the gateway's XML, status ``connection_error``) -- retry within the deadline.
``maybe_sent`` marks the failures after which an SMS may have gone out all the same (a 2xx
answer we cannot read, no complete answer after the request reached the gateway): the caller
spends only a small budget of those, since each may have been billed. ``PermanentError``:
retrying spends money or time for nothing -- stop and report the stable ``code`` with the
gateway's own text (``no_funds_queued`` is also ``maybe_sent``: the platform holds that SMS and
sends it after a top-up). ``InvalidRequest``: refused before any money is spent. Messages never
carry the password, the phone number or a code.
"""

from __future__ import annotations

import re

from worker.errors import (
    DeliveryFailed,
    DuplicateRequest,
    GatewayError,
    GatewayRejected,
    InvalidRequest,
    NetworkError,
    PermanentError,
    ProtocolError,
    StatusConnectionError,
    TransientError,
)

__all__ = [
    "MAYBE_SENT_CODES",
    "DeliveryFailed",
    "DuplicateRequest",
    "GatewayError",
    "GatewayRejected",
    "InvalidRequest",
    "NetworkError",
    "PermanentError",
    "ProtocolError",
    "StatusConnectionError",
    "TransientError",
    "classify_error_text",
]


# Known error texts of the platform (lower-cased fragments) -> stable codes. Order matters:
# the first fragment found wins, so the narrower fragments come first.
_TEXT_CODES: tuple[tuple[str, str], ...] = (
    ("логин или пароль", "auth_failed"),
    ("заблокирован", "account_blocked"),
    ("закончились sms", "no_funds"),
    ("закончились смс", "no_funds"),
    # The platform keeps this SMS and sends it after a top-up, with a code we never learn.
    ("пополните счет", "no_funds_queued"),
    ("недостаточно средств", "no_funds"),
    ("не прошел модерацию", "sender_not_approved"),
    ("отправител", "sender_unknown"),
    ("стоп-лист", "phone_stop_listed"),
    ("стоп лист", "phone_stop_listed"),
    ("направление закрыто", "direction_closed"),
    ("отклонен модератором", "text_rejected"),
    ("нет текста", "text_rejected"),
    ("одинакового запроса", "duplicate_request"),
    ("уже было отправлено", "duplicate_request"),
    ("формат xml", "bad_request"),
    ("post данные", "bad_request"),
    ("номер", "phone_invalid"),
    ("телефон", "phone_invalid"),
)


#: Refusals after which the SMS may still go out (and be billed): never sent again blindly.
MAYBE_SENT_CODES: frozenset[str] = frozenset({"no_funds_queued"})

_SPACES = re.compile(r"\s+")


def classify_error_text(text: str) -> str:
    """Map a gateway error text to a stable code; ``unknown`` when nothing known matches."""
    folded = _SPACES.sub(" ", text.replace("ё", "е").replace("Ё", "Е")).lower()
    for fragment, code in _TEXT_CODES:
        if fragment in folded:
            return code
    return "unknown"
