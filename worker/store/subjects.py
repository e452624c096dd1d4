"""What ``verify`` must read before its Lua step, remembered per verification in this process.

``verify.lua`` receives in KEYS the logs it touches, and their names come from the record's
``VERIFY_FIELDS`` (the phone's and the requester's digests, the prefix's): a round trip before
the step. Those fields are written once, by ``create``, and never change, so a process that
created the verification (a web app, the HTTP API) or has verified it once already knows them
and skips that read. Nothing else is kept: no phone, no code, only digests that are key names.
A record that is gone is not remembered (its verify answers ``unknown`` either way).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

__all__ = ["Subjects"]


class Subjects:
    """A bounded map, verification id -> its ``VERIFY_FIELDS``; the oldest entry goes first."""

    def __init__(self, size: int = 8192) -> None:
        self._size = size
        self._items: dict[str, tuple[str, str, str]] = {}
        self._lock = threading.Lock()

    def get(self, verification_id: str) -> tuple[str, str, str] | None:
        return self._items.get(verification_id)

    def put(self, verification_id: str, fields: Sequence[object]) -> None:
        """Remember the fields as read (or written); a record without them is not kept."""
        phone_key, prefix_key, requester = fields
        if not phone_key:
            return
        with self._lock:
            self._items[verification_id] = (
                str(phone_key),
                str(prefix_key or ""),
                str(requester or ""),
            )
            while len(self._items) > self._size:
                del self._items[next(iter(self._items))]
