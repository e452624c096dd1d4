"""The producer's half of the Store on ``redis.asyncio``: the same Lua steps, keys and typed
answers as the thread Store (both send ``worker.store.calls``), for code on an event loop.

Only what the producer API calls is here; the worker's steps run in threads and keep ``Store``.
A client belongs to the event loop it was first used on, so build one per loop.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar, Unpack

import redis.asyncio as aioredis

from worker.core.gate import SmsGate
from worker.store import calls
from worker.store.calls import Call
from worker.store.connection import Topology, is_cluster, translated, where_of, where_of_topology
from worker.store.keys import Keys
from worker.store.results import Canceled, Created, Refusal, ResendOutcome, SmsSubject, Verdict
from worker.store.scripts import registered

__all__ = ["AsyncStore", "connect_async"]

P = ParamSpec("P")
R = TypeVar("R")


def connect_async(url: str, max_connections: int = 128) -> aioredis.Redis:
    """The thread client's pool and timeouts, for one event loop (one server)."""
    client: aioredis.Redis = Topology(url).connect_async(max_connections)
    return client


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
        self,
        client: Any,
        prefix: str,
        *,
        clock: Callable[[], float] | None = None,
        where: str = "",
    ) -> None:
        self._redis = client  # redis.asyncio's Redis or RedisCluster: the same commands here
        self._clock = clock
        self.keys = Keys(prefix, cluster=is_cluster(client))
        self._scripts = registered(client)
        self.where = where or where_of(client)

    @classmethod
    def from_url(
        cls,
        url: str,
        prefix: str,
        *,
        clock: Callable[[], float] | None = None,
        topology: Topology | None = None,
    ) -> AsyncStore:
        """``topology`` (Sentinel, Cluster) when given, else the one server at ``url``."""
        topology = topology or Topology(url)
        return cls(topology.connect_async(), prefix, clock=clock, where=where_of_topology(topology))

    def __repr__(self) -> str:
        return f"AsyncStore(where={self.where!r}, prefix={self.keys.prefix!r})"

    async def aclose(self) -> None:
        await self._redis.aclose()

    def stats_key(self) -> str:
        return self.keys.stats_at(self._clock() if self._clock is not None else time.time())

    async def _call(self, call: Call) -> dict[str, Any]:
        raw = await self._scripts[call.name](keys=call.keys, args=call.argv(self._clock))
        return calls.answer(raw)

    @_guarded
    async def create(self, gate: SmsGate, **a: Unpack[calls.CreateArgs]) -> Created | Refusal:
        call = calls.create_call(self.keys, gate, self.stats_key(), **a)
        return calls.created(await self._call(call), a["verification_id"])

    @_guarded
    async def abandon(self, gate: SmsGate, **a: Unpack[calls.AbandonArgs]) -> None:
        call = calls.abandon_call(self.keys, gate, self.stats_key(), **a)
        await self._call(call)

    @_guarded
    async def sms_subject(self, verification_id: str) -> SmsSubject | None:
        record = self.keys.record(verification_id)
        return calls.sms_subject(await self._redis.hmget(record, list(calls.SUBJECT_FIELDS)))

    @_guarded
    async def resend(
        self, gate: SmsGate, **a: Unpack[calls.ResendArgs]
    ) -> tuple[ResendOutcome, str] | Refusal:
        call = calls.resend_call(self.keys, gate, self.stats_key(), **a)
        return calls.resent(await self._call(call))

    @_guarded
    async def verify(
        self, verification_id: str, candidates: Sequence[str], **a: Unpack[calls.VerifyArgs]
    ) -> Verdict:
        record = self.keys.record(verification_id)
        call = calls.verify_call(
            self.keys,
            verification_id,
            candidates,
            await self._redis.hmget(record, list(calls.VERIFY_FIELDS)),
            self.stats_key(),
            **a,
        )
        return calls.verdict(await self._call(call))

    @_guarded
    async def cancel(self, verification_id: str) -> Canceled:
        return calls.canceled(await self._call(calls.cancel_call(self.keys, verification_id)))

    @_guarded
    async def load(self, verification_id: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
        async with self._redis.pipeline(transaction=False) as pipe:
            calls.queue_load(pipe, self.keys, verification_id)
            return calls.loaded(await pipe.execute())

    @_guarded
    async def issue_proof(self, proof_id: str, verification_id: str, ttl_ms: int) -> None:
        """Remember, for ``ttl_ms``, that ``proof_id`` proves ``verification_id`` once."""
        await self._redis.set(self.keys.proof(proof_id), verification_id, px=ttl_ms, nx=True)

    @_guarded
    async def take_proof(self, proof_id: str) -> str | None:
        """The verification ``proof_id`` proves, consumed atomically (GETDEL): a second
        request with the same proof, however close, gets None."""
        found = await self._redis.getdel(self.keys.proof(proof_id))
        return found.decode() if isinstance(found, bytes) else found

    @_guarded
    async def count_refusal(self, reason: str) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            calls.queue_refusal_count(pipe, self.keys, self.stats_key(), reason)
            await pipe.execute()
