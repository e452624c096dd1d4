"""The one place that builds a Redis client: one server, a master followed through Sentinel, or
a Redis Cluster; and the one place their failures are told apart.

Whichever the topology, a caller gets a client with timeouts (a Redis that goes away must not
hang a request) and sees one exception, ``StoreUnavailable``, for "no master answers right now":
a dropped connection, ``MasterNotFoundError`` while the sentinels elect a new master, a
``READONLY`` answer from a master that was demoted under an open connection, a cluster's
``TRYAGAIN``/``CLUSTERDOWN`` once redis-py's own retries are spent. ``NOSCRIPT`` (a promoted
replica or a resharded slot has no script cache) is not a failure: ``Scripts`` loads the script
again and runs it, which redis-py's ``Script`` does on that error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeAlias

import redis
from redis.cluster import RedisCluster
from redis.sentinel import (
    MasterNotFoundError,
    Sentinel,
    SentinelManagedConnection,
    SentinelManagedSSLConnection,
)

from worker.core.endpoint import endpoint
from worker.errors import StoreUnavailable

__all__ = [
    "MAX_CONNECTIONS",
    "POOL_OPTIONS",
    "Client",
    "Topology",
    "is_cluster",
    "parse_sentinels",
    "sentinel_problems",
    "translated",
    "where_of",
    "where_of_topology",
]

#: What the store talks to: a client of one server (plain or Sentinel-managed) or a cluster.
Client: TypeAlias = "redis.Redis | RedisCluster"

_TIMEOUTS: dict[str, Any] = {
    "socket_timeout": 5,
    "socket_connect_timeout": 3,
    "health_check_interval": 30,
}
#: One server's pool, thread or asyncio: it blocks (briefly) when every connection is busy
#: instead of failing, so a burst of web requests queues for a connection rather than erroring.
MAX_CONNECTIONS = 128  # per client: a pool this size, and worker.aio lets as many calls in at once
POOL_OPTIONS: dict[str, Any] = {"timeout": 5, "decode_responses": True, **_TIMEOUTS}
# What "no master answers right now" looks like. READONLY is here for a plain client pointed at
# a demoted master (a Sentinel-managed connection turns it into ConnectionError itself); the
# write did not happen, so the caller may simply try again.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    redis.ConnectionError,  # MasterNotFoundError is one
    redis.TimeoutError,
    redis.BusyLoadingError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.ClusterDownError,  # CLUSTERDOWN, MASTERDOWN
    redis.exceptions.TryAgainError,  # TRYAGAIN: a slot mid-migration
    redis.exceptions.ClusterError,  # redis-py gave up following the cluster's moves
    OSError,
)


@contextlib.contextmanager
def translated(where: str) -> Iterator[None]:
    """Turn any "Redis is not there right now" into ``StoreUnavailable``."""
    try:
        yield
    except _UNAVAILABLE as exc:
        what = "no master" if isinstance(exc, MasterNotFoundError) else type(exc).__name__
        raise StoreUnavailable(f"Redis at {where} is unavailable ({what})") from None


def parse_sentinels(text: str) -> tuple[tuple[str, int], ...]:
    """``host:port,host:port`` as addresses; ValueError names the first bad entry's position."""
    out = []
    for i, item in enumerate(p.strip() for p in text.split(",")):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"entry {i + 1} is not host:port")
        out.append((host.strip("[]"), int(port)))
    return tuple(out)


def sentinel_problems(sentinels: str, master: str) -> list[str]:
    """Settings problems of REDIS_SENTINELS and REDIS_SENTINEL_MASTER (never their values)."""
    out = []
    if sentinels:
        try:
            parse_sentinels(sentinels)
        except ValueError as exc:
            out.append(f"REDIS_SENTINELS must list host:port,host:port ({exc})")
        if not master:
            out.append("REDIS_SENTINEL_MASTER is required with REDIS_SENTINELS")
    return out


@dataclass(frozen=True)
class Topology:
    """Where the store is: ``url`` alone (one server), with ``sentinels`` and ``master`` (the
    URL then gives only credentials, db and TLS), or ``cluster`` (the URL names any node)."""

    url: str
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str = ""
    cluster: bool = False

    @classmethod
    def of(
        cls, url: str, *, sentinels: str = "", master: str = "", cluster: bool = False
    ) -> Topology:
        return cls(url, parse_sentinels(sentinels) if sentinels else (), master, cluster)

    def connect(self, max_connections: int = MAX_CONNECTIONS) -> Client:
        """A thread-safe client for this topology."""
        if self.cluster:
            return RedisCluster.from_url(
                self.url,
                decode_responses=True,
                max_connections=max_connections,
                **_TIMEOUTS,
            )
        if self.sentinels:
            return self._sentinel_master(max_connections)
        pool = redis.BlockingConnectionPool.from_url(
            self.url, max_connections=max_connections, **POOL_OPTIONS
        )
        return redis.Redis(connection_pool=pool)

    def connect_async(self, max_connections: int = MAX_CONNECTIONS) -> Any:
        """The same topology on ``redis.asyncio``, for one event loop."""
        import redis.asyncio as aioredis
        from redis.asyncio.cluster import RedisCluster as AsyncCluster
        from redis.asyncio.sentinel import Sentinel as AsyncSentinel

        if self.cluster:
            return AsyncCluster.from_url(self.url, decode_responses=True, **_TIMEOUTS)
        if self.sentinels:
            params = redis.connection.parse_url(self.url)  # type: ignore[no-untyped-call]
            params.pop("connection_class", None)
            for unused in ("host", "port", "path"):
                params.pop(unused, None)
            sentinel = AsyncSentinel(  # type: ignore[no-untyped-call]
                list(self.sentinels),
                sentinel_kwargs={"socket_timeout": 1, "socket_connect_timeout": 1},
                **_TIMEOUTS,
            )
            return sentinel.master_for(
                self.master, decode_responses=True, max_connections=max_connections, **params
            )
        pool = aioredis.BlockingConnectionPool.from_url(
            self.url, max_connections=max_connections, **POOL_OPTIONS
        )
        return aioredis.Redis(connection_pool=pool)

    def _sentinel_master(self, max_connections: int) -> redis.Redis:
        params = redis.connection.parse_url(self.url)  # type: ignore[no-untyped-call]
        tls = params.pop("connection_class", None) is redis.SSLConnection
        for unused in ("host", "port", "path"):
            params.pop(unused, None)
        # The sentinels themselves are asked with the same short timeouts, no password: Sentinel
        # usually runs without one (SENTINEL auth-pass is the master's).
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            list(self.sentinels),
            sentinel_kwargs={"socket_timeout": 1, "socket_connect_timeout": 1},
            **_TIMEOUTS,
        )
        connection = SentinelManagedSSLConnection if tls else SentinelManagedConnection
        client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
            self.master,
            connection_class=connection,
            decode_responses=True,
            max_connections=max_connections,
            **params,
        )
        return client


def is_cluster(client: Any) -> bool:
    """A Redis Cluster client, thread or asyncio (its keys then carry the store's hash tag)."""
    from redis.asyncio.cluster import RedisCluster as AsyncCluster

    return isinstance(client, RedisCluster | AsyncCluster)


def where_of(client: Any) -> str:
    """Where a client (thread or asyncio) points, for messages: never a password."""
    if not hasattr(client, "connection_pool"):
        return "a Redis Cluster"
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return str(kwargs["path"])
    return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"


def where_of_topology(topology: Topology) -> str:
    """Where a topology points, for messages ('' for one server: ask its client)."""
    if topology.sentinels:
        return f"Sentinel master {topology.master!r}"
    if topology.cluster:
        return f"the Redis Cluster at {endpoint(topology.url)}"
    return ""
