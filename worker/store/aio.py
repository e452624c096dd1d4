"""The producer's half of the Store on ``redis.asyncio``: the same Lua steps, keys and typed
answers as the thread Store (both send ``worker.store.calls``), for code on an event loop.

Only what the producer API calls is here; the worker's steps run in threads and keep ``Store``.
A client belongs to the event loop it was first used on, so build one per loop.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

import redis.asyncio as aioredis

from worker.core.gate import SmsGate
from worker.store import calls
from worker.store.calls import STATS_TTL_MS, Call
from worker.store.keys import Keys
from worker.store.redis_store import STATS_BUCKET_SECONDS
from worker.store.results import Canceled, Created, Refusal, ResendOutcome, SmsSubject, Verdict
from worker.store.scripts import _SOURCES, translated

__all__ = ["AsyncStore", "connect_async"]

P = ParamSpec("P")
R = TypeVar("R")


def connect_async(url: str, max_connections: int = 128) -> aioredis.Redis:
    """Timeouts as the thread client has; a burst waits (briefly) for a free connection."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=5,
        decode_responses=True,
        socket_timeout=5,
        socket_connect_timeout=3,
        health_check_interval=30,
    )
    return aioredis.Redis(connection_pool=pool)


def _guarded(
    method: Callable[Concatenate[AsyncStore, P], Awaitable[R]],
) -> Callable[Concatenate[AsyncStore, P], Awaitable[R]]:
    """Redis' own exceptions end here, as ``StoreUnavailable``."""

    async def wrapper(self: AsyncStore, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with translated(self.where):
            return await method(self, *args, **kwargs)

    functools.update_wrapper(wrapper, method)
    return wrapper


class AsyncStore:
    """Method for method the producer side of ``Store`` (names, arguments, answers), awaited.

    ``clock`` (tests only) replaces the Redis server's time in every step, as in ``Store``.
    """

    def __init__(
        self, client: aioredis.Redis, prefix: str, *, clock: Callable[[], float] | None = None
    ) -> None:
        self._redis = client
        self._clock = clock
        self.keys = Keys(prefix)
        self._scripts = {name: client.register_script(src) for name, src in _SOURCES.items()}
        kwargs = client.connection_pool.connection_kwargs
        self.where = (
            str(kwargs["path"])
            if "path" in kwargs
            else f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"
        )

    @classmethod
    def from_url(
        cls, url: str, prefix: str, *, clock: Callable[[], float] | None = None
    ) -> AsyncStore:
        return cls(connect_async(url), prefix, clock=clock)

    def __repr__(self) -> str:
        return f"AsyncStore(where={self.where!r}, prefix={self.keys.prefix!r})"

    async def aclose(self) -> None:
        await self._redis.aclose()

    def stats_key(self) -> str:
        now = self._clock() if self._clock is not None else time.time()
        return self.keys.stats(int(now // STATS_BUCKET_SECONDS))

    async def _run(self, call: Call) -> dict[str, Any]:
        arg: Mapping[str, Any] = call.arg
        if self._clock is not None:
            arg = {**arg, "now_ms": int(self._clock() * 1000)}
        out = await self._scripts[call.name](keys=call.keys, args=[json.dumps(arg)])
        answer: dict[str, Any] = json.loads(out)
        return answer

    @_guarded
    async def create(
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
        call = calls.create_call(
            self.keys,
            gate,
            self.stats_key(),
            verification_id=verification_id,
            idempotency_digest=idempotency_digest,
            idempotency_ttl_ms=idempotency_ttl_ms,
            record_ttl_ms=record_ttl_ms,
            send_window_ms=send_window_ms,
            max_attempts=max_attempts,
        )
        return calls.created(await self._run(call), verification_id)

    @_guarded
    async def abandon(
        self,
        gate: SmsGate,
        *,
        verification_id: str,
        sends: int,
        idempotency_digest: str | None = None,
    ) -> None:
        await self._run(
            calls.abandon_call(
                self.keys,
                gate,
                self.stats_key(),
                verification_id=verification_id,
                sends=sends,
                idempotency_digest=idempotency_digest,
            )
        )

    @_guarded
    async def sms_subject(self, verification_id: str) -> SmsSubject | None:
        values = await self._redis.hmget(
            self.keys.record(verification_id), list(calls.SUBJECT_FIELDS)
        )
        return calls.sms_subject(values)

    @_guarded
    async def resend(
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
        call = calls.resend_call(
            self.keys,
            gate,
            self.stats_key(),
            verification_id=verification_id,
            sends=sends,
            send_window_ms=send_window_ms,
            max_attempts=max_attempts,
            max_sends=max_sends,
            record_ttl_ms=record_ttl_ms,
        )
        return calls.resent(await self._run(call))

    @_guarded
    async def verify(
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
        subject = await self._redis.hmget(
            self.keys.record(verification_id), list(calls.VERIFY_FIELDS)
        )
        call = calls.verify_call(
            self.keys,
            verification_id,
            candidates,
            subject,
            self.stats_key(),
            verifier_key=verifier_key,
            window_ms=window_ms,
            phone_limit=phone_limit,
            ip_limit=ip_limit,
            pumping_window_ms=pumping_window_ms,
        )
        return calls.verdict(await self._run(call))

    @_guarded
    async def cancel(self, verification_id: str) -> Canceled:
        return calls.canceled(await self._run(calls.cancel_call(self.keys, verification_id)))

    @_guarded
    async def load(self, verification_id: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
        k = self.keys
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(k.record(verification_id))
            pipe.lrange(k.history(verification_id), 0, -1)
            record, history = await pipe.execute()
        return record, [json.loads(item) for item in history]

    @_guarded
    async def count_refusal(self, reason: str) -> None:
        key = self.stats_key()
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(key, f"refused:{reason}", 1)
            pipe.pexpire(key, STATS_TTL_MS)
            pipe.hincrby(self.keys.totals, f"refused:{reason}", 1)
            await pipe.execute()
