"""The Redis side: key layout, and the Lua scripts that make each step atomic.

Every multi-step change of a verification happens in one script (dramatiq's way), so two
workers, or a worker and a web request, never see a half-done state. Every key has a TTL.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import redis

from .gateway.models import FINAL_STATUSES

__all__ = ["UNAVAILABLE", "Bucket", "Keys", "Store", "connect"]

_SCRIPTS = (
    "create",
    "abandon",
    "verify",
    "resend",
    "cancel",
    "claim_send",
    "extend_lock",
    "store_sent",
    "store_failed",
    "poll_claim",
    "poll_apply",
    "poll_schedule",
    "push_apply",
)
# States per push_apply call: bounds how long one script holds Redis.
PUSH_CHUNK = 500
HISTORY_SUFFIX = ":h"
Arg = str | int | float
# What "Redis is not there right now" looks like to a caller.
UNAVAILABLE: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.BusyLoadingError,
    OSError,
)


def connect(url: str, max_connections: int = 128) -> redis.Redis:
    """A thread-safe client with timeouts: a Redis that goes away must not hang a request.

    The pool blocks (briefly) when every connection is busy instead of failing, so a burst of
    web threads queues for a connection rather than erroring.
    """
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=5,
        decode_responses=True,
        socket_timeout=5,
        socket_connect_timeout=3,
        health_check_interval=30,
    )
    return redis.Redis(connection_pool=pool)


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str

    def record(self, verification_id: str) -> str:
        return f"{self.prefix}v:{verification_id}"

    def history(self, verification_id: str) -> str:
        return self.record(verification_id) + HISTORY_SUFFIX

    def lock(self, verification_id: str) -> str:
        return f"{self.prefix}lock:{verification_id}"

    def idempotency(self, digest: str) -> str:
        return f"{self.prefix}idem:{digest}"

    def bucket(self, name: str, subject: str) -> str:
        return f"{self.prefix}rl:{name}:{subject}"

    def pumping(self, prefix_digest: str, kind: str) -> str:
        return f"{self.prefix}pf:{prefix_digest}:{kind}"

    def sms(self, id_sms: str) -> str:
        """id_sms -> verification id, for pushed statuses (which carry only the id_sms)."""
        return f"{self.prefix}sms:{id_sms}"

    @property
    def deny(self) -> str:
        """The operator's deny list: configuration, so the one key without a TTL."""
        return f"{self.prefix}deny"

    @property
    def record_prefix(self) -> str:
        return f"{self.prefix}v:"

    @property
    def poll(self) -> str:
        return f"{self.prefix}poll"

    @property
    def poll_marker(self) -> str:
        return f"{self.prefix}poll:next"

    @property
    def events(self) -> str:
        return f"{self.prefix}events"


@dataclass(frozen=True, slots=True)
class Bucket:
    """One sliding-window limit: at most ``limit`` events per ``window_ms`` for ``key``."""

    key: str
    window_ms: int
    limit: int
    name: str


def _load_scripts() -> dict[str, str]:
    package = resources.files("worker") / "lua"
    common = (package / "common.lua").read_text(encoding="utf-8")
    return {
        name: common + (package / f"{name}.lua").read_text(encoding="utf-8") for name in _SCRIPTS
    }


_SOURCE = _load_scripts()


def _bucket_args(buckets: Sequence[Bucket]) -> tuple[list[str], list[Arg]]:
    keys = [b.key for b in buckets]
    args: list[Arg] = [len(buckets)]
    for b in buckets:
        args += [b.window_ms, b.limit, b.name]
    return keys, args


class Store:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.redis = client
        self.keys = Keys(prefix)
        self._scripts = {name: client.register_script(src) for name, src in _SOURCE.items()}

    def _run(self, name: str, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        return self._scripts[name](keys=list(keys), args=list(args))

    # --- producer side -------------------------------------------------------------------------

    def create(
        self,
        config: dict[str, Any],
        *,
        verification_id: str,
        idempotency_key: str | None,
        prefix_digest: str,
        stats_key: str,
        buckets: Sequence[Bucket],
    ) -> list[Any]:
        """Run ``create.lua``; ``config`` is its JSON (see the script's header)."""
        k = self.keys
        bucket_keys, bucket_args = _bucket_args(buckets)
        return list(
            self._run(
                "create",
                [
                    k.record(verification_id),
                    k.history(verification_id),
                    k.idempotency(idempotency_key or "-"),
                    k.deny,
                    k.pumping(prefix_digest, "s"),
                    k.pumping(prefix_digest, "v"),
                    k.pumping(prefix_digest, "flag"),
                    stats_key,
                    *bucket_keys,
                ],
                [json.dumps(config), *bucket_args[1:]],
            )
        )

    def abandon(
        self, verification_id: str, idempotency_key: str | None, buckets: Sequence[Bucket]
    ) -> None:
        k = self.keys
        self._run(
            "abandon",
            [
                k.record(verification_id),
                k.history(verification_id),
                k.idempotency(idempotency_key or "-"),
                *(b.key for b in buckets),
            ],
            [verification_id],
        )

    def verify(
        self,
        verification_id: str,
        candidate: str,
        *,
        ip_log: str | None,
        stats_key: str,
        config: dict[str, Any],
    ) -> tuple[str, int, int]:
        """(reason, attempts left, retry after ms) from ``verify.lua``."""
        k = self.keys
        reason, left, retry_after = self._run(
            "verify",
            [k.record(verification_id), k.history(verification_id), ip_log or k.prefix, stats_key],
            [candidate, k.events, verification_id, json.dumps(config)],
        )
        return str(reason), int(left), int(retry_after)

    def resend(
        self,
        verification_id: str,
        *,
        send_window_ms: int,
        max_attempts: int,
        max_sends: int,
        record_ttl_ms: int,
        buckets: Sequence[Bucket],
    ) -> list[Any]:
        k = self.keys
        bucket_keys, bucket_args = _bucket_args(buckets)
        return list(
            self._run(
                "resend",
                [k.record(verification_id), k.history(verification_id), k.poll, *bucket_keys],
                [
                    verification_id,
                    k.events,
                    send_window_ms,
                    max_attempts,
                    max_sends,
                    record_ttl_ms,
                    *bucket_args,
                ],
            )
        )

    def cancel(self, verification_id: str) -> list[Any]:
        k = self.keys
        return list(
            self._run(
                "cancel",
                [k.record(verification_id), k.history(verification_id), k.poll],
                [verification_id, k.events],
            )
        )

    def load(self, verification_id: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
        k = self.keys
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(k.record(verification_id))
            pipe.lrange(k.history(verification_id), 0, -1)
            record, history = pipe.execute()
        return record, [json.loads(item) for item in history]

    # --- worker side ---------------------------------------------------------------------------

    def claim_send(self, verification_id: str, token: str, lock_ttl_ms: int) -> list[Any]:
        k = self.keys
        return list(
            self._run(
                "claim_send",
                [k.record(verification_id), k.history(verification_id), k.lock(verification_id)],
                [token, lock_ttl_ms, k.events, verification_id],
            )
        )

    def extend_lock(self, verification_id: str, token: str, ttl_ms: int) -> bool:
        return bool(self._run("extend_lock", [self.keys.lock(verification_id)], [token, ttl_ms]))

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
    ) -> list[Any]:
        k = self.keys
        return list(
            self._run(
                "store_sent",
                [
                    k.record(verification_id),
                    k.history(verification_id),
                    k.lock(verification_id),
                    k.poll,
                    k.poll_marker,
                    k.sms(id_sms),
                ],
                [
                    token,
                    code_digest,
                    id_sms,
                    status,
                    ttl_ms,
                    first_poll_ms,
                    k.events,
                    verification_id,
                    max_attempts,
                    poll_ttl_ms,
                    poll_slack_ms,
                    poll_grace_ms,
                    poll_batch,
                ],
            )
        )

    def store_failed(
        self,
        verification_id: str,
        token: str,
        *,
        error_code: str,
        message: str,
        id_sms: str = "",
        status: str = "",
    ) -> list[Any]:
        k = self.keys
        return list(
            self._run(
                "store_failed",
                [k.record(verification_id), k.history(verification_id), k.lock(verification_id)],
                [token, error_code, message, id_sms, status, k.events, verification_id],
            )
        )

    def poll_claim(self, batch: int, lease_ms: int) -> list[tuple[str, str]]:
        flat = self._run("poll_claim", [self.keys.poll], [batch, lease_ms, self.keys.record_prefix])
        return [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]

    def poll_apply(
        self,
        results: Sequence[tuple[str, str, str]],
        *,
        max_age_ms: int,
        first_delay_ms: int,
        max_delay_ms: int,
    ) -> tuple[int, int]:
        """``results``: (verification id, id_sms, status or '') for every claimed id."""
        k = self.keys
        args: list[Arg] = [
            k.record_prefix,
            HISTORY_SUFFIX,
            k.events,
            max_age_ms,
            first_delay_ms,
            max_delay_ms,
            ",".join(sorted(FINAL_STATUSES)),
        ]
        for triple in results:
            args.extend(triple)
        changed, stopped = self._run("poll_apply", [k.poll], args)
        return int(changed), int(stopped)

    def apply_pushed(self, states: Sequence[tuple[str, str]]) -> list[str]:
        """Apply pushed (id_sms, status) pairs; returns the id_sms accepted, in order.

        Known ids are applied as a poll would apply them; unknown (or stale) ids are accepted
        and ignored, so the platform stops sending them. Raises ``UNAVAILABLE`` errors when
        Redis is away: then nothing is acknowledged and the platform sends them again.
        """
        k = self.keys
        finals = ",".join(sorted(FINAL_STATUSES))
        for start in range(0, len(states), PUSH_CHUNK):
            chunk = states[start : start + PUSH_CHUNK]
            owners = self.redis.mget([k.sms(id_sms) for id_sms, _ in chunk])
            keys: list[str] = [k.poll]
            args: list[Arg] = [k.events, finals]
            for (id_sms, status), owner in zip(chunk, owners, strict=True):
                if isinstance(owner, str) and owner:
                    keys += [k.record(owner), k.history(owner)]
                    args += [owner, id_sms, status]
            if len(keys) > 1:
                self._run("push_apply", keys, args)
        return list(dict.fromkeys(id_sms for id_sms, _ in states))

    def poll_schedule(
        self, *, slack_ms: int, grace_ms: int, batch: int, clear: str = ""
    ) -> tuple[str, int] | None:
        """(marker, delay ms) for a poll task to queue now, or None when one is already queued."""
        k = self.keys
        out = self._run(
            "poll_schedule", [k.poll, k.poll_marker], [slack_ms, grace_ms, clear, batch]
        )
        return (str(out[1]), int(out[2])) if out[0] == 1 else None
