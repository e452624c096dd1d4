"""Delivery statuses: the poller's lease, apply and schedule steps, and pushed statuses.

A poll and a push apply a status through the same Lua helper (``apply_status``), so the two
paths cannot disagree on what a status means or how often it counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from worker.core.delivery import FINAL_STATUSES, KNOWN_STATUSES, recorded_status
from worker.store.calls import hooks_arg
from worker.store.core import StoreCore, chunked, guarded
from worker.store.counters import GatewayTimings, taken
from worker.store.results import PollTask, poll_task

__all__ = ["Delivery"]

# Delivery statuses after which nothing changes (polling and pushes stop there).
_FINAL = sorted(FINAL_STATUSES)
# Every other status is recorded as `other` (recorded_status; the Lua step checks again).
_KNOWN = sorted(KNOWN_STATUSES)


class Delivery(StoreCore):
    @guarded
    def poll_lease(self, batch: int, lease_ms: int) -> list[tuple[str, str]]:
        """(verification id, id_sms) of up to ``batch`` due verifications, leased to us."""
        k = self.keys
        now_ms = int(self._now() * 1000)
        ids = [str(i) for i in self._redis.zrangebyscore(k.poll, "-inf", now_ms, 0, batch)]
        leased: list[tuple[str, str]] = []
        for chunk in chunked(ids):
            out = self._run(
                "poll_lease",
                [k.poll, *(k.record(i) for i in chunk)],
                {"ids": chunk, "lease_ms": lease_ms},
            )
            leased += [(str(i), str(s)) for i, s in (out["leased"] or [])]
        return leased

    @guarded
    def poll_apply(
        self,
        results: Sequence[tuple[str, str, str]],
        *,
        max_age_ms: int,
        first_delay_ms: int,
        max_delay_ms: int,
        timings: GatewayTimings | None = None,
    ) -> tuple[int, int]:
        """``results``: (verification id, id_sms, status or '') for every leased id.
        Returns (ids whose status changed, ids no longer polled)."""
        k = self.keys
        changed = stopped = 0
        # One step even for no results: the poll's gateway timings are still counted.
        for n, chunk in enumerate(chunked(results) or [results]):
            out = self._run(
                "poll_apply",
                self._status_keys(v for v, _, _ in chunk),
                {
                    "channel": k.events,
                    "hooks": hooks_arg(k),
                    "max_age_ms": max_age_ms,
                    "first_delay_ms": first_delay_ms,
                    "max_delay_ms": max_delay_ms,
                    "final": _FINAL,
                    "known": _KNOWN,
                    "results": [[v, i, *recorded_status(status)] for v, i, status in chunk],
                    "timings": taken(timings) if n == 0 else {},
                },
            )
            changed += int(out["changed"])
            stopped += int(out["stopped"])
        return changed, stopped

    @guarded
    def apply_pushed(self, states: Sequence[tuple[str, str]]) -> list[str]:
        """Apply pushed (id_sms, status) pairs as a poll would; returns the id_sms accepted.

        Unknown (or stale) ids are accepted and ignored, so the platform stops sending them.
        Raises ``StoreUnavailable`` when Redis is away: then nothing is acknowledged and the
        platform sends them again.
        """
        k = self.keys
        for chunk in chunked(states):
            owners = self._redis.mget([k.sms(id_sms) for id_sms, _ in chunk])
            known = [
                [owner, id_sms, *recorded_status(status)]
                for (id_sms, status), owner in zip(chunk, owners, strict=True)
                if isinstance(owner, str) and owner
            ]
            if known:
                self._run(
                    "push_apply",
                    self._status_keys(owner for owner, *_ in known),
                    {
                        "channel": k.events,
                        "hooks": hooks_arg(k),
                        "final": _FINAL,
                        "known": _KNOWN,
                        "states": known,
                    },
                )
        return list(dict.fromkeys(id_sms for id_sms, _ in states))

    @guarded
    def poll_schedule(
        self, *, slack_ms: int, grace_ms: int, batch: int, clear: str = ""
    ) -> PollTask | None:
        """The poll task to queue now, or None when one is already queued."""
        k = self.keys
        out = self._run(
            "poll_schedule",
            [k.poll, k.poll_marker],
            {"slack_ms": slack_ms, "grace_ms": grace_ms, "clear": clear, "batch": batch},
        )
        return poll_task(out)

    def _status_keys(self, verification_ids: Iterable[str]) -> list[str]:
        """KEYS of a step that applies statuses: poll set, totals, then per status the
        verification's record and history (``apply_status`` in ``lua/common.lua``)."""
        k = self.keys
        keys = [k.poll, k.totals]
        for verification_id in verification_ids:
            keys += [k.record(verification_id), k.history(verification_id)]
        return keys
