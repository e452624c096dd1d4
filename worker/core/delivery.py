"""Delivery statuses: which ones are final, whoever reports them (a poll or a push)."""

from __future__ import annotations

import string

__all__ = [
    "FINAL_STATUSES",
    "KNOWN_STATUSES",
    "OTHER_STATUS",
    "RAW_STATUS_CHARS",
    "is_final",
    "recorded_status",
]

# Statuses after which the gateway will not change its mind. Anything else -- including
# statuses we have never seen -- is treated as pending and polled again.
FINAL_STATUSES: frozenset[str] = frozenset(
    {"deliver", "partly_deliver", "not_deliver", "expired", "not_valid_phone"}
)


def is_final(status: str) -> bool:
    return status in FINAL_STATUSES


# The statuses the guide names (docs: shared targetsms-api.md). Whatever else a poll or a push
# says is recorded and counted as OTHER_STATUS, so a forged push cannot mint fields or labels.
KNOWN_STATUSES: frozenset[str] = FINAL_STATUSES | {"send", "connection_error"}
OTHER_STATUS = "other"
# The raw text of an unknown status, kept in the history only: this long, these characters.
RAW_STATUS_CHARS = 32
_RAW_STATUS_ALLOWED = frozenset(string.ascii_letters + string.digits + "_-.")


def recorded_status(text: str) -> tuple[str, str]:
    """(the status to record and count, the raw text for the history or '' when known).

    One validation for polled and pushed statuses; the Lua step checks the same again."""
    text = text.strip()
    if not text or text in KNOWN_STATUSES:
        return text, ""
    raw = "".join(ch if ch in _RAW_STATUS_ALLOWED else "?" for ch in text[:RAW_STATUS_CHARS])
    return OTHER_STATUS, raw
