"""The Store: every read and write of our Redis state, each multi-step change one Lua step.

Callers see typed inputs and outcomes and one exception, ``StoreUnavailable``; key names, script
contracts and Redis' own exceptions stay in this package. Every key has a TTL except the deny
list and the all-time counters.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Concatenate, ParamSpec, TypeVar

import redis
from redis.client import PubSub

from worker.core.delivery import FINAL_STATUSES, KNOWN_STATUSES, recorded_status
from worker.core.gate import SmsGate
from worker.core.outcomes import RefusalCode, VerifyReason
from worker.store.connection import Client, Topology, translated, where_of, where_of_topology
from worker.store.keys import Keys
from worker.store.results import (
    Canceled,
    CancelOutcome,
    Claim,
    ClaimOutcome,
    Created,
    PollTask,
    Refusal,
    ResendOutcome,
    SmsSubject,
    Stored,
    Verdict,
)
from worker.store.scripts import Scripts

__all__ = ["STATS_BUCKET_SECONDS", "EventFeed", "GatewayTimings", "Store", "connect"]

P = ParamSpec("P")
R = TypeVar("R")

#: ``targetsms stats`` counts in five-minute buckets kept a day and an hour.
STATS_BUCKET_SECONDS = 300
STATS_TTL_MS = (24 * 3600 + 3600) * 1000
# Delivery statuses after which nothing changes (polling and pushes stop there).
_FINAL = sorted(FINAL_STATUSES)
# Every other status is recorded as `other` (recorded_status; the Lua step checks again).
_KNOWN = sorted(KNOWN_STATUSES)
# Pushed statuses applied per Lua step: a huge push must not block Redis for long.
_PUSH_CHUNK = 500


def connect(url: str, max_connections: int = 128) -> redis.Redis:
    """A client of the one server at ``url`` (``Topology`` builds the others)."""
    client = Topology(url).connect(max_connections)
    assert isinstance(client, redis.Redis)
    return client


def _guarded(method: Callable[Concatenate[Store, P], R]) -> Callable[Concatenate[Store, P], R]:
    """Redis' own exceptions end here, as ``StoreUnavailable``."""

    def wrapper(self: Store, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with translated(self.where):
            return method(self, *args, **kwargs)

    functools.update_wrapper(wrapper, method)
    return wrapper


def _refusal(out: Mapping[str, Any]) -> Refusal:
    wait = out.get("retry_after_ms")
    return Refusal(RefusalCode(out["code"]), str(out["why"]), int(wait) if wait else None)


_local = threading.local()
#: Gateway latency histogram bounds (seconds); buckets are stored non-cumulative.
GATEWAY_BUCKETS: tuple[str, ...] = (
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
    "1", "2.5", "5", "10", "15", "30", "+Inf",
)  # fmt: skip


def _timing(endpoint: str, seconds: float) -> list[Any]:
    bound = next(b for b in GATEWAY_BUCKETS if b == "+Inf" or seconds <= float(b))
    return [endpoint, seconds, bound]


class GatewayTimings:
    """Gateway request durations observed on one thread, for the Lua step that ends the send
    or poll to count (``totals`` hash: gw:<endpoint>:count, :sum, :le:<bound>)."""

    def __init__(self) -> None:
        self.items: list[list[Any]] = []

    def add(self, endpoint: str, seconds: float) -> None:
        self.items.append(_timing(endpoint, seconds))

    def take(self) -> list[list[Any]]:
        items, self.items = self.items, []
        return items


def _taken(timings: GatewayTimings | None) -> list[list[Any]] | dict[str, Any]:
    """For a step's JSON: the timings (an empty JSON object when none: Lua cannot tell)."""
    return (timings.take() if timings is not None else []) or {}


class EventFeed:
    """A subscription to the events channel; ``close`` it when done."""

    def __init__(self, pubsub: PubSub, where: str) -> None:
        self._pubsub = pubsub
        self._where = where

    def next(self, timeout: float) -> dict[str, Any] | None:
        """The next event within ``timeout`` seconds, or None."""
        with translated(self._where):
            message = self._pubsub.get_message(timeout=timeout)
        if message is None or message.get("type") != "message":
            return None
        try:
            event = json.loads(message["data"])
        except (TypeError, ValueError):
            return None
        return event if isinstance(event, dict) else None

    def close(self) -> None:
        self._pubsub.close()


class Store:
    """``clock`` (tests only) replaces the Redis server's time in every step, so rules that
    depend on time can be tested without sleeping; production reads Redis' ``TIME``."""

    def __init__(
        self,
        client: Client,
        prefix: str,
        *,
        clock: Callable[[], float] | None = None,
        where: str = "",
    ) -> None:
        self._redis: Any = client  # redis.Redis or RedisCluster: the same commands here
        self._clock = clock
        self.keys = Keys(prefix)
        self._scripts = Scripts(client)
        self.where = where or where_of(client)

    @classmethod
    def from_url(
        cls,
        url: str,
        prefix: str,
        *,
        clock: Callable[[], float] | None = None,
        topology: Topology | None = None,
    ) -> Store:
        """``topology`` (Sentinel, Cluster) when given, else the one server at ``url``."""
        topology = topology or Topology(url)
        return cls(topology.connect(), prefix, clock=clock, where=where_of_topology(topology))

    def _now(self) -> float:
        return self._clock() if self._clock is not None else time.time()

    def __repr__(self) -> str:
        return f"Store(where={self.where!r}, prefix={self.keys.prefix!r})"

    def close(self) -> None:
        self._redis.close()

    def _run(self, name: str, keys: Sequence[str], arg: Mapping[str, Any]) -> dict[str, Any]:
        if self._clock is not None:
            arg = {**arg, "now_ms": int(self._clock() * 1000)}
        return self._scripts.run(name, keys, arg)

    def stats_key(self, at: float | None = None) -> str:
        now = self._now() if at is None else at
        return self.keys.stats(int(now // STATS_BUCKET_SECONDS))

    # --- the SMS gate ----------------------------------------------------------------------

    def _gate_keys(self, gate: SmsGate, stats_key: str) -> list[str]:
        k = self.keys
        return [
            k.deny,
            k.pumping(gate.prefix_key, "s"),
            k.pumping(gate.prefix_key, "v"),
            k.pumping(gate.prefix_key, "flag"),
            stats_key,
            k.totals,
            *(k.limit_log(limit.name, limit.subject) for limit in gate.limits),
        ]

    @staticmethod
    def _gate_arg(gate: SmsGate, member: str) -> dict[str, Any]:
        return {
            "phone": gate.phone,
            "region": gate.region,
            "member": member,
            "limits": [
                {"name": li.name, "window_ms": li.window_ms, "limit": li.limit}
                for li in gate.limits
            ],
            "captcha_passed": gate.captcha_passed,
            "step_up": (
                {
                    "ip_per_hour": gate.step_up.ip_per_hour,
                    "prefix_per_hour": gate.step_up.prefix_per_hour,
                }
                if gate.step_up
                else False
            ),
            "pumping": {
                "refuse": gate.pumping.refuse,
                "window_ms": gate.pumping.window_ms,
                "min_sends": gate.pumping.min_sends,
                "min_conversion": gate.pumping.min_conversion,
                "cooloff_ms": gate.pumping.cooloff_ms,
            },
            "stats_ttl_ms": STATS_TTL_MS,
        }

    # --- producer side -----------------------------------------------------------------------

    @_guarded
    def create(
        self,
        gate: SmsGate,
        *,
        verification_id: str,
        idempotency_digest: str | None,
        idempotency_ttl_ms: int,
        record_ttl_ms: int,
        send_window_ms: int,
        max_attempts: int,
    ) -> Created | Refusal:
        """Admit the first SMS of a new verification and write its record (``create.lua``)."""
        k = self.keys
        out = self._run(
            "create",
            [
                k.record(verification_id),
                k.history(verification_id),
                k.idempotency(idempotency_digest) if idempotency_digest else k.unused,
                *self._gate_keys(gate, self.stats_key()),
            ],
            {
                "id": verification_id,
                "channel": k.events,
                "record_ttl_ms": record_ttl_ms,
                "send_window_ms": send_window_ms,
                "max_attempts": max_attempts,
                "idempotency_ttl_ms": idempotency_ttl_ms if idempotency_digest else 0,
                "fields": {
                    "phone_key": gate.phone_key,
                    "prefix_key": gate.prefix_key,
                    "requester": gate.ip_key or "",
                },
                "gate": self._gate_arg(gate, f"{verification_id}:1"),
            },
        )
        if out["outcome"] == "refused":
            return _refusal(out)
        if out["outcome"] == "existing":
            return Created(str(out["id"]), existing=True)
        return Created(verification_id, existing=False, pumping_flagged=bool(out["flagged"]))

    @_guarded
    def abandon(
        self,
        gate: SmsGate,
        *,
        verification_id: str,
        sends: int,
        idempotency_digest: str | None = None,
    ) -> None:
        """The publish for the ``sends``-th SMS failed: give back what its admission counted."""
        k = self.keys
        self._run(
            "abandon",
            [
                k.record(verification_id),
                k.history(verification_id),
                k.idempotency(idempotency_digest) if idempotency_digest else k.unused,
                *self._gate_keys(gate, self.stats_key()),
            ],
            {
                "id": verification_id,
                "channel": k.events,
                "resend": sends > 1,
                "gate": self._gate_arg(gate, f"{verification_id}:{sends}"),
            },
        )

    @_guarded
    def sms_subject(self, verification_id: str) -> SmsSubject | None:
        phone, region, sends = self._redis.hmget(
            self.keys.record(verification_id), ["phone", "region", "sends"]
        )
        if not phone:
            return None
        return SmsSubject(str(phone), str(region or "ZZ"), int(sends or 0))

    @_guarded
    def resend(
        self,
        gate: SmsGate,
        *,
        verification_id: str,
        sends: int,
        send_window_ms: int,
        max_attempts: int,
        max_sends: int,
        record_ttl_ms: int,
    ) -> tuple[ResendOutcome, str] | Refusal:
        """(outcome, state for not_allowed) or the gate's refusal (``resend.lua``)."""
        k = self.keys
        out = self._run(
            "resend",
            [
                k.record(verification_id),
                k.history(verification_id),
                k.poll,
                *self._gate_keys(gate, self.stats_key()),
            ],
            {
                "id": verification_id,
                "channel": k.events,
                "send_window_ms": send_window_ms,
                "max_attempts": max_attempts,
                "max_sends": max_sends,
                "record_ttl_ms": record_ttl_ms,
                "sends": sends,
                "gate": self._gate_arg(gate, f"{verification_id}:{sends + 1}"),
            },
        )
        if out["outcome"] == "refused":
            return _refusal(out)
        return ResendOutcome(out["outcome"]), str(out.get("state", ""))

    @_guarded
    def verify(
        self,
        verification_id: str,
        candidates: Sequence[str],
        *,
        verifier_key: str | None,
        window_ms: int,
        phone_limit: int,
        ip_limit: int,
        pumping_window_ms: int,
    ) -> Verdict:
        """``verify.lua``: ``candidates`` are the typed code's digests under each key that may
        have stored it (one attempt, whichever matches). The record's subject keys are read
        first to name the logs it touches: they never change after the record is written, so
        nothing can slip between."""
        k = self.keys
        record = k.record(verification_id)
        phone_key, prefix_key, requester = self._redis.hmget(
            record, ["phone_key", "prefix_key", "requester"]
        )
        out = self._run(
            "verify",
            [
                record,
                k.history(verification_id),
                k.guess_log(str(phone_key or ""), str(requester or "")),
                k.verifier_log(verifier_key) if verifier_key else k.unused,
                k.pumping(str(prefix_key or ""), "v"),
                self.stats_key(),
                k.totals,
            ],
            {
                "candidates": list(candidates),
                "id": verification_id,
                "channel": k.events,
                "window_ms": window_ms,
                "phone_limit": phone_limit if phone_key else 0,
                "ip_limit": ip_limit,
                "has_ip": verifier_key is not None,
                "pumping_window_ms": pumping_window_ms,
                "stats_ttl_ms": STATS_TTL_MS,
            },
        )
        reason = VerifyReason(out["reason"])
        phone = str(out.get("phone") or "") if reason is VerifyReason.OK else ""
        return Verdict(reason, int(out["left"]), int(out["retry_after_ms"]), phone or None)

    @_guarded
    def cancel(self, verification_id: str) -> Canceled:
        k = self.keys
        out = self._run(
            "cancel",
            [k.record(verification_id), k.history(verification_id), k.poll],
            {"id": verification_id, "channel": k.events},
        )
        return Canceled(CancelOutcome(out["outcome"]), str(out.get("state", "")))

    @_guarded
    def load(self, verification_id: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
        k = self.keys
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(k.record(verification_id))
            pipe.lrange(k.history(verification_id), 0, -1)
            record, history = pipe.execute()
        return record, [json.loads(item) for item in history]

    @_guarded
    def field_of(self, verification_ids: Sequence[str], name: str) -> list[str | None]:
        """One record field of many verifications, in one round trip (for watchers)."""
        with self._redis.pipeline(transaction=False) as pipe:
            for verification_id in verification_ids:
                pipe.hget(self.keys.record(verification_id), name)
            values: list[str | None] = pipe.execute()
        return values

    @_guarded
    def count_refusal(self, reason: str) -> None:
        """Count a refusal decided in Python or Lua alike, for stats and metrics."""
        key = self.stats_key()
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(key, f"refused:{reason}", 1)
            pipe.pexpire(key, STATS_TTL_MS)
            pipe.hincrby(self.keys.totals, f"refused:{reason}", 1)
            pipe.execute()

    @_guarded
    def subscribe_events(self) -> EventFeed:
        """Every verification's state changes from now on, as they are published."""
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(self.keys.events)
        except BaseException:
            pubsub.close()
            raise
        return EventFeed(pubsub, self.where)

    # --- worker side -------------------------------------------------------------------------

    @_guarded
    def claim_send(self, verification_id: str, token: str, lock_ttl_ms: int) -> Claim:
        k = self.keys
        out = self._run(
            "claim_send",
            [
                k.record(verification_id),
                k.history(verification_id),
                k.lock(verification_id),
                k.totals,
            ],
            {
                "token": token,
                "lock_ttl_ms": lock_ttl_ms,
                "channel": k.events,
                "id": verification_id,
            },
        )
        since = out.get("since_attempt_ms")
        return Claim(
            ClaimOutcome(out["outcome"]),
            phone=str(out.get("phone", "")),
            left_ms=int(out.get("left_ms", 0)),
            state=str(out.get("state", "")),
            lock_ms=int(out.get("lock_ms", 0)),
            resumed=bool(out.get("resumed", False)),
            since_attempt_ms=None if since is None else int(since),
        )

    @_guarded
    def extend_lock(
        self, verification_id: str, token: str, ttl_ms: int, *, attempt_ago_ms: int | None = None
    ) -> bool:
        """True while this claimant still owns the send (the lock is extended or taken again).

        ``attempt_ago_ms`` also notes, in the record, when the last gateway attempt that may
        have been accepted started (0: one starts now), for a send resumed after this one dies.
        """
        k = self.keys
        arg: dict[str, Any] = {"token": token, "ttl_ms": ttl_ms}
        if attempt_ago_ms is not None:
            arg["attempt_ago_ms"] = max(attempt_ago_ms, 0)
        out = self._run("extend_lock", [k.record(verification_id), k.lock(verification_id)], arg)
        return bool(out["held"])

    @_guarded
    def store_sent(
        self,
        verification_id: str,
        token: str,
        *,
        code_digest: str,
        id_sms: str,
        status: str,
        ttl_ms: int,
        first_poll_ms: int,
        max_attempts: int,
        poll_ttl_ms: int,
        poll_slack_ms: int,
        poll_grace_ms: int,
        poll_batch: int,
        timings: GatewayTimings | None = None,
    ) -> Stored:
        k = self.keys
        out = self._run(
            "store_sent",
            [
                k.record(verification_id),
                k.history(verification_id),
                k.lock(verification_id),
                k.poll,
                k.poll_marker,
                k.totals,
                k.sms(id_sms),
            ],
            {
                "token": token,
                "code_hmac": code_digest,
                "id_sms": id_sms,
                "status": status,
                "ttl_ms": ttl_ms,
                "first_poll_ms": first_poll_ms,
                "channel": k.events,
                "id": verification_id,
                "max_attempts": max_attempts,
                "poll_ttl_ms": poll_ttl_ms,
                "poll_slack_ms": poll_slack_ms,
                "poll_grace_ms": poll_grace_ms,
                "poll_batch": poll_batch,
                "timings": _taken(timings),
            },
        )
        if out["outcome"] != "sent":
            return Stored(False, str(out.get("state", "")))
        poll = None
        if int(out["due_ms"]):
            poll = PollTask(str(int(out["due_ms"])), int(out["delay_ms"]) / 1000)
        return Stored(True, "sent", poll)

    @_guarded
    def store_failed(
        self,
        verification_id: str,
        token: str,
        *,
        error_code: str,
        message: str,
        id_sms: str = "",
        status: str = "",
        timings: GatewayTimings | None = None,
    ) -> Stored:
        k = self.keys
        out = self._run(
            "store_failed",
            [
                k.record(verification_id),
                k.history(verification_id),
                k.lock(verification_id),
                k.totals,
            ],
            {
                "token": token,
                "error_code": error_code,
                "message": message,
                "id_sms": id_sms,
                "status": status,
                "channel": k.events,
                "id": verification_id,
                "timings": _taken(timings),
            },
        )
        return Stored(out["outcome"] == "failed", str(out.get("state", "failed")))

    @_guarded
    def poll_lease(self, batch: int, lease_ms: int) -> list[tuple[str, str]]:
        """(verification id, id_sms) of up to ``batch`` due verifications, leased to us."""
        k = self.keys
        now_ms = int(self._now() * 1000)
        ids = [str(i) for i in self._redis.zrangebyscore(k.poll, "-inf", now_ms, 0, batch)]
        if not ids:
            return []
        out = self._run(
            "poll_lease",
            [k.poll, *(k.record(i) for i in ids)],
            {"ids": ids, "lease_ms": lease_ms},
        )
        return [(str(i), str(s)) for i, s in (out["leased"] or [])]

    @_guarded
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
        keys = [k.poll, k.totals]
        for verification_id, _, _ in results:
            keys += [k.record(verification_id), k.history(verification_id)]
        out = self._run(
            "poll_apply",
            keys,
            {
                "channel": k.events,
                "max_age_ms": max_age_ms,
                "first_delay_ms": first_delay_ms,
                "max_delay_ms": max_delay_ms,
                "final": _FINAL,
                "known": _KNOWN,
                "results": [[v, i, *recorded_status(status)] for v, i, status in results],
                "timings": _taken(timings),
            },
        )
        return int(out["changed"]), int(out["stopped"])

    @_guarded
    def apply_pushed(self, states: Sequence[tuple[str, str]]) -> list[str]:
        """Apply pushed (id_sms, status) pairs as a poll would; returns the id_sms accepted.

        Unknown (or stale) ids are accepted and ignored, so the platform stops sending them.
        Raises ``StoreUnavailable`` when Redis is away: then nothing is acknowledged and the
        platform sends them again.
        """
        k = self.keys
        for start in range(0, len(states), _PUSH_CHUNK):
            chunk = states[start : start + _PUSH_CHUNK]
            owners = self._redis.mget([k.sms(id_sms) for id_sms, _ in chunk])
            keys: list[str] = [k.poll, k.totals]
            known: list[list[str]] = []
            for (id_sms, status), owner in zip(chunk, owners, strict=True):
                if isinstance(owner, str) and owner:
                    keys += [k.record(owner), k.history(owner)]
                    known.append([owner, id_sms, *recorded_status(status)])
            if known:
                self._run(
                    "push_apply",
                    keys,
                    {"channel": k.events, "final": _FINAL, "known": _KNOWN, "states": known},
                )
        return list(dict.fromkeys(id_sms for id_sms, _ in states))

    @_guarded
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
        if not int(out["due_ms"]):
            return None
        return PollTask(str(int(out["due_ms"])), int(out["delay_ms"]) / 1000)

    @_guarded
    def polling_count(self) -> int:
        """Verifications whose delivery status is still followed."""
        return int(self._redis.zcard(self.keys.poll))

    # --- operators ---------------------------------------------------------------------------

    @_guarded
    def ping(self) -> str:
        """The Redis server's version: proof that it answers."""
        return str(self._redis.info("server").get("redis_version", "?"))

    @_guarded
    def deny_list(self) -> list[str]:
        return sorted(str(m) for m in self._redis.smembers(self.keys.deny))

    @_guarded
    def deny_add(self, prefix: str) -> None:
        self._redis.sadd(self.keys.deny, prefix)

    @_guarded
    def deny_remove(self, prefix: str) -> bool:
        return bool(self._redis.srem(self.keys.deny, prefix))

    @_guarded
    def stats_buckets(self, count: int, at: float | None = None) -> list[dict[str, str]]:
        """The last ``count`` statistics buckets, newest first."""
        now = self._now() if at is None else at
        with self._redis.pipeline(transaction=False) as pipe:
            for i in range(count):
                pipe.hgetall(self.stats_key(now - i * STATS_BUCKET_SECONDS))
            buckets: list[dict[str, str]] = pipe.execute()
        return buckets

    # --- metrics -----------------------------------------------------------------------------
    # Fields of the ``totals`` hash: sms_requested, sms_sent, sms_failed:<code>,
    # refused:<reason>, verify:<result>, delivery:<status> (bumped inside the Lua steps and
    # count_refusal), and the gateway latency histogram gw:<endpoint>:count, :sum and
    # :le:<bound>. Buckets are NOT cumulative: an observation bumps only the smallest bound that
    # holds it (one write instead of up to fifteen); the exporter adds them up.

    GATEWAY_BUCKETS: ClassVar[tuple[str, ...]] = GATEWAY_BUCKETS

    @_guarded
    def totals(self) -> dict[str, str]:
        """Every all-time counter, as stored (the metrics exporter's source)."""
        return {str(k): str(v) for k, v in self._redis.hgetall(self.keys.totals).items()}

    @_guarded
    def balance_refresh_due(self, interval_ms: int) -> bool:
        """True for exactly one caller per interval (across processes): that one asks the
        gateway. The lock is never released early, so failures are paced too."""
        return bool(self._redis.set(self.keys.balance_lock, "1", nx=True, px=interval_ms))

    @_guarded
    def cache_balance(self, fields: Mapping[str, str]) -> None:
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(self.keys.balance, mapping=dict[Any, Any](fields))
            pipe.pexpire(self.keys.balance, 3_600_000)
            pipe.execute()

    @_guarded
    def cached_balance(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self._redis.hgetall(self.keys.balance).items()}

    def observe_gateway(self, endpoint: str, seconds: float) -> None:
        """Record one gateway request's duration. Inside ``gateway_timings`` it is kept for
        the Lua step that ends the send or poll (no round trip of its own); elsewhere it is
        written at once. Best effort: a metric must never fail a send."""
        timings: GatewayTimings | None = getattr(_local, "timings", None)
        if timings is not None:
            timings.add(endpoint, seconds)
            return
        self._write_timings([_timing(endpoint, seconds)])

    @contextlib.contextmanager
    def gateway_timings(self) -> Iterator[GatewayTimings]:
        """Collect this thread's gateway timings for the step that ends the block; whatever
        no step wrote is written when the block ends."""
        timings, previous = GatewayTimings(), getattr(_local, "timings", None)
        _local.timings = timings
        try:
            yield timings
        finally:
            _local.timings = previous
            if timings.items:
                self._write_timings(timings.take())

    def _write_timings(self, items: Sequence[list[Any]]) -> None:
        key = self.keys.totals
        with (
            contextlib.suppress(redis.RedisError, OSError),
            self._redis.pipeline(transaction=False) as pipe,
        ):
            for endpoint, seconds, bound in items:
                pipe.hincrby(key, f"gw:{endpoint}:count", 1)
                pipe.hincrbyfloat(key, f"gw:{endpoint}:sum", seconds)
                pipe.hincrby(key, f"gw:{endpoint}:le:{bound}", 1)
            pipe.execute()
