"""The patched Redis transport against a real Redis: one client per pool, and the unacked
bookkeeping (append, ack, reject) that still adds up without MULTI/EXEC."""

from __future__ import annotations

import secrets

from kombu import Connection, Queue

from worker.queue.kombu_redis import RedisTransport
from worker.runtime import celery_app

celery_app()  # installs the transport under kombu's redis name, as `celery -A worker` does


def test_one_client_per_pool_built_again_when_the_pool_is(redis_url: str) -> None:
    with Connection(redis_url) as conn:
        assert isinstance(conn.transport, RedisTransport)
        channel = conn.default_channel
        first = channel._create_client()
        assert channel._create_client() is first and first.ping()
        channel._disconnect_pools()  # what kombu does after a lost connection
        again = channel._create_client()
        assert again is not first and again.ping()


def test_delivered_messages_are_tracked_until_acked_or_rejected(redis_url: str) -> None:
    name = f"kr-{secrets.token_hex(4)}"
    with Connection(redis_url) as conn:
        queue = Queue(name, routing_key=name)
        channel = conn.default_channel
        producer = conn.Producer(channel)
        for body in ("a", "b"):
            producer.publish(body, routing_key=name, declare=[queue], serializer="json")
        client = channel._create_client()
        first, second = queue(channel).get(no_ack=False), queue(channel).get(no_ack=False)
        assert first is not None and second is not None
        tags = [first.delivery_tag, second.delivery_tag]

        def tracked() -> list[tuple[bool, bool]]:
            return [
                (
                    bool(client.hexists(channel.unacked_key, tag)),
                    client.zscore(channel.unacked_index_key, tag) is not None,
                )
                for tag in tags
            ]

        assert tracked() == [(True, True), (True, True)]
        first.ack()
        second.reject(requeue=True)  # back to the queue, and out of the unacked set
        assert tracked() == [(False, False), (False, False)]
        again = queue(channel).get(no_ack=True)
        assert again is not None and again.payload == "b"
        queue(channel).delete()
