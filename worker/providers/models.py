"""Plain values the gateway returns; the code is kept out of every repr."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

__all__ = ["Balance", "SendResult", "StateEntry"]


@dataclass(frozen=True, slots=True)
class SendResult:
    """A successful ``password_generation`` answer."""

    code: str = field(repr=False)
    id_sms: str
    status: str


@dataclass(frozen=True, slots=True)
class StateEntry:
    """One ``<state>`` (or per-id ``<error>``) element of a ``state`` answer."""

    id_sms: str
    status: str | None
    time: str | None = None
    num_parts: int | None = None
    price: Decimal | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Balance:
    money: Decimal
    currency: str
    sms: tuple[tuple[str, int], ...] = ()
