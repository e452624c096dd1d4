"""The Redis broker transports (one server, Sentinel), with one fix for losing the connection.

Celery 5.7 closes a lost broker connection after collecting it; kombu's Redis channel then tries
to hand its unacknowledged messages back through that collected connection and raises
``AttributeError`` ('NoneType' has no attribute 'hostname'), which Celery treats as
unrecoverable: a Redis restart or failover stops the worker. An ack or reject of a task that was
running when the connection went is the same trap, met once the worker has reconnected. Nothing
can be handed back to a Redis that is gone anyway, and nothing needs to be: those messages are
still in Redis's unacked set, and the visibility-timeout sweep returns them. So this transport
skips those steps when the connection is already collected, and the worker reconnects as Celery
intends. Sentinel's channel (``sentinel://``) gets the same QoS.

kombu 5.7.0 is the newest release and still has this path, so the fix stays; pyproject.toml pins
kombu to the 5.7 series it was tested on, since it subclasses kombu's internals.

``install()`` puts this transport under kombu's own ``redis``/``rediss`` names rather than
naming it in ``broker_transport``: the broker URL then stays ``redis://...`` everywhere, so
Flower recognises a Redis broker and answers queue lengths (with a custom transport path it
shows "broker is not supported").
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import kombu.transport
from kombu.transport import redis as kombu_redis

__all__ = ["RedisTransport", "SentinelTransport", "install"]

log = logging.getLogger("targetsms.broker")


class _QoS(kombu_redis.QoS):
    @contextlib.contextmanager
    def pipe_or_acquire(self, pipe: Any = None, client: Any = None) -> Iterator[Any]:
        """kombu's unacked bookkeeping (the append of a delivered message, its ack or reject)
        without MULTI/EXEC: two commands that are idempotent one by one and read back only
        by the restore, which WATCHes the unacked hash and finds an entry either whole or gone.
        At worst a restore that lands between the two redelivers a message that was just
        acked, which the send lock and the record's state make harmless, as with any copy."""
        if pipe is not None:
            yield pipe
            return
        with self.channel.conn_or_acquire(client) as acquired:  # type: ignore[attr-defined]
            yield acquired.pipeline(transaction=False)

    def _collected(self) -> bool:
        return self.channel.connection is None or self.channel.connection.client is None

    def restore_unacked_once(self, stderr: Any = None) -> Any:
        if self._collected():
            delivered: Any = self._delivered
            pending = len(delivered or ())
            if pending:
                log.warning(
                    "broker connection lost: %d unacknowledged message(s) stay in Redis and "
                    "return after the visibility timeout",
                    pending,
                )
            if delivered is not None:
                delivered.restored = True  # what the base class marks once it is done
            return None
        return super().restore_unacked_once(stderr)

    # A task that ends after its channel died with the connection (a failover under a running
    # send) is acked on the reconnected worker's loop: through the dead channel kombu raises
    # AttributeError and Celery stops the worker. The message is still in Redis's unacked set;
    # the sweep hands it back and its send, already done, answers "done".
    def ack(self, delivery_tag: Any) -> None:
        if self._collected():
            log.info("broker connection was lost: a finished task's ack is left to the sweep")
            return
        super().ack(delivery_tag)

    def reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        if self._collected():
            log.info("broker connection was lost: a task handed back returns after the sweep")
            return
        super().reject(delivery_tag, requeue=requeue)


class _OneClient:
    """kombu builds a new ``redis.Redis`` for every publish, ack and unacked append, and
    redis-py copies its response-callback table each time (6-7% of a worker's CPU in
    BENCHMARKS.md's profile). A client is only a handle on the channel's connection pool and
    is thread-safe, so one is kept per pool and built again when kombu replaces the pool
    (after a lost connection). The asynchronous client is kombu's own ``client`` property."""

    _one_client: tuple[Any, Any] | None = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:
            return super()._create_client(asynchronous=True)  # type: ignore[misc]
        pool = self.pool  # type: ignore[attr-defined]
        cached = self._one_client
        if cached is None or cached[0] is not pool:
            cached = self._one_client = (pool, super()._create_client())  # type: ignore[misc]
        return cached[1]


class _Channel(_OneClient, kombu_redis.Channel):
    QoS = _QoS


class RedisTransport(kombu_redis.Transport):
    Channel = _Channel


class _SentinelChannel(_OneClient, kombu_redis.SentinelChannel):
    QoS = _QoS  # a failover drops the connection the same way a restart does


class SentinelTransport(kombu_redis.SentinelTransport):
    Channel = _SentinelChannel


_PATHS = {
    "redis": f"{__name__}:RedisTransport",
    "rediss": f"{__name__}:RedisTransport",
    "sentinel": f"{__name__}:SentinelTransport",
}


def install() -> None:
    """Make ``redis://``, ``rediss://`` and ``sentinel://`` URLs use our transports here."""
    for scheme, path in _PATHS.items():
        if kombu.transport.TRANSPORT_ALIASES.get(scheme) != path:
            kombu.transport.TRANSPORT_ALIASES[scheme] = path
            # A class resolved before this call is cached by name: forget it.
            cache: dict[str | None, type | None] = getattr(kombu.transport, "_transport_cache", {})
            cache.pop(scheme, None)
