"""The patched Redis transport keeps kombu's ``redis`` name, so Flower recognises the broker."""

from __future__ import annotations

from kombu import Connection

from worker.core.endpoint import endpoint
from worker.queue.kombu_redis import RedisTransport
from worker.runtime import celery_app

# The app `celery -A worker` looks up (worker.app) installs the transport as it is configured.
celery_app()


def test_redis_urls_get_the_patched_transport_and_stay_redis_urls() -> None:
    for url in ("redis://:pw@127.0.0.1:6390/0", "rediss://:pw@example.org:6390/1"):
        conn = Connection(url)
        assert isinstance(conn.transport, RedisTransport)
        assert conn.transport.driver_type == "redis"
        scheme = url.split("://")[0]
        assert conn.as_uri(include_password=True) == url
        assert conn.as_uri().startswith(f"{scheme}://") and "pw" not in conn.as_uri()


def test_flower_builds_its_redis_broker_client_for_it() -> None:
    from flower.utils.broker import Broker, Redis

    uri = Connection("redis://:pw@127.0.0.1:6390/3").as_uri(include_password=True)
    client = Broker(uri, broker_options={}, broker_use_ssl=None)
    assert isinstance(client, Redis)
    assert (client.host, client.port, client.password) == ("127.0.0.1", 6390, "pw")


def test_endpoint_names_host_and_port_never_credentials() -> None:
    cases = {
        "redis://:s3cret@10.0.0.1:6380/0": "10.0.0.1:6380",
        "redis://user:s3cret@redis/0": "redis:6379",
        "amqp://guest:s3cret@rabbit:5673/vhost": "rabbit:5673",
        "amqps://u:s3cret@mq//": "mq:5671",
        "rediss://u:s3cret@[::1]:7000/1?ssl_cert_reqs=none": "[::1]:7000",
        "unix:///run/redis.sock?db=2": "unix:/run/redis.sock",
        "redis://a:s3cret@h1:1;redis://b:s3cret@h2:2": "h1:1, h2:2",
        "redis://:s3cret@host:notaport/0": "host",
    }
    for url, expected in cases.items():
        assert endpoint(url) == expected, url
        assert "s3cret" not in endpoint(url)
