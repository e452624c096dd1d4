"""The producer's steps: create a verification, resend, verify, cancel, read it back.

Every SMS these steps spend passes the gate in the same Lua step that writes the record, so
parallel requests cannot slip between a check and its counter. Each step's keys, argument and
answer are ``calls``' (shared with the asyncio Store, ``aio``); this module only runs them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Unpack

from worker.core.gate import SmsGate
from worker.store import calls
from worker.store.core import StoreCore, guarded
from worker.store.results import Canceled, Created, Refusal, ResendOutcome, SmsSubject, Verdict
from worker.store.subjects import Subjects

__all__ = ["Verifications"]


class Verifications(StoreCore):
    @functools.cached_property
    def _subjects(self) -> Subjects:
        return Subjects()

    @guarded
    def create(self, gate: SmsGate, **a: Unpack[calls.CreateArgs]) -> Created | Refusal:
        """Admit the first SMS of a new verification and write its record (``create.lua``)."""
        call = calls.create_call(self.keys, gate, self.stats_key(), **a)
        out = calls.created(self._call(call), a["verification_id"])
        if isinstance(out, Created) and not out.existing:
            # What verify reads first, as create.lua wrote it (calls.create_call's fields).
            self._subjects.put(out.id, (gate.phone_key, gate.prefix_key, gate.ip_key or ""))
        return out

    @guarded
    def abandon(self, gate: SmsGate, **a: Unpack[calls.AbandonArgs]) -> None:
        """The publish for the ``sends``-th SMS failed: give back what its admission counted."""
        call = calls.abandon_call(self.keys, gate, self.stats_key(), **a)
        self._call(call)

    @guarded
    def sms_subject(self, verification_id: str) -> SmsSubject | None:
        record = self.keys.record(verification_id)
        return calls.sms_subject(self._redis.hmget(record, list(calls.SUBJECT_FIELDS)))

    @guarded
    def resend(
        self, gate: SmsGate, **a: Unpack[calls.ResendArgs]
    ) -> tuple[ResendOutcome, str] | Refusal:
        """(outcome, state for not_allowed) or the gate's refusal (``resend.lua``)."""
        call = calls.resend_call(self.keys, gate, self.stats_key(), **a)
        return calls.resent(self._call(call))

    @guarded
    def verify(
        self, verification_id: str, candidates: Sequence[str], **a: Unpack[calls.VerifyArgs]
    ) -> Verdict:
        """``verify.lua`` (``calls.verify_call`` says what it reads first, and why; ``Subjects``
        why this process may know it already)."""
        subject: Sequence[Any] | None = self._subjects.get(verification_id)
        if subject is None:
            record = self.keys.record(verification_id)
            subject = self._redis.hmget(record, list(calls.VERIFY_FIELDS))
            self._subjects.put(verification_id, subject)
        call = calls.verify_call(
            self.keys, verification_id, candidates, subject, self.stats_key(), **a
        )
        return calls.verdict(self._call(call))

    @guarded
    def cancel(self, verification_id: str) -> Canceled:
        return calls.canceled(self._call(calls.cancel_call(self.keys, verification_id)))

    @guarded
    def load(self, verification_id: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
        """The record and its history (oldest event first); ({}, []) when there is none."""
        with self._redis.pipeline(transaction=False) as pipe:
            calls.queue_load(pipe, self.keys, verification_id)
            return calls.loaded(pipe.execute())
