"""Redis topologies in the settings: Sentinel for store and broker, a Cluster store with its
broker elsewhere, quorum queues; every mistake named at load, no value echoed."""

from __future__ import annotations

import secrets

import pytest

from worker.queue.broker import broker_url, transport_options
from worker.queue.celery_app import celery_config
from worker.queue.quorum import DELIVERY_LIMIT, PARKED_QUEUE
from worker.settings import Settings, SettingsError
from worker.store import Topology

GOOD = {
    "TARGETSMS_LOGIN": "login",
    "TARGETSMS_PASSWORD": "Pa$$-Пароль",
    "TARGETSMS_SENDER": "target",
    "OTP_SERVICE_NAME": "Shop",
    "OTP_SECRET_KEY": secrets.token_urlsafe(32),
}


def _problems(**env: str) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**GOOD, **env})
    return caught.value.problems


def test_sentinels_need_a_master_name_and_host_port_entries() -> None:
    problems = _problems(REDIS_SENTINELS="10.0.0.1:26379,s3cr3t-host")
    assert any("REDIS_SENTINELS must list host:port" in p and "entry 2" in p for p in problems)
    assert "REDIS_SENTINEL_MASTER is required with REDIS_SENTINELS" in problems
    assert not any("s3cr3t" in p for p in problems)


def test_a_cluster_broker_is_refused_with_one_line() -> None:
    problems = _problems(REDIS_CLUSTER="1")
    assert problems == [
        "REDIS_CLUSTER=1: the Celery broker cannot run on a Redis Cluster (kombu does not "
        "support it): set CELERY_BROKER_URL to RabbitMQ (amqp://) or a Sentinel Redis "
        "(sentinel://)",
    ]
    settings = Settings.from_env({**GOOD, "REDIS_CLUSTER": "1", "CELERY_BROKER_URL": "amqp://h//"})
    assert settings.redis_cluster
    assert Topology.of("redis://node:7000/0", cluster=True).cluster


def test_cluster_and_sentinel_exclude_each_other() -> None:
    problems = _problems(
        REDIS_CLUSTER="1", REDIS_SENTINELS="a:1", REDIS_SENTINEL_MASTER="m",
        CELERY_BROKER_URL="amqp://h//",
    )  # fmt: skip
    assert problems == [
        "REDIS_CLUSTER=1 and REDIS_SENTINELS exclude each other: choose one",
    ]


def test_the_broker_follows_the_stores_sentinels_with_its_credentials() -> None:
    s = Settings.from_env(
        {**GOOD, "REDIS_URL": "redis://:pw%40x@ignored:6379/3",
         "REDIS_SENTINELS": "10.0.0.1:26379, 10.0.0.2:26380", "REDIS_SENTINEL_MASTER": "otp"}
    )  # fmt: skip
    assert (
        broker_url(s) == "sentinel://:pw%40x@10.0.0.1:26379/3;sentinel://:pw%40x@10.0.0.2:26380/3"
    )
    options = transport_options(s, {"visibility_timeout": 30})
    assert options["master_name"] == "otp" and options["visibility_timeout"] == 30
    config = celery_config(s)
    assert config["broker_url"] == broker_url(s)
    assert config["broker_transport_options"]["master_name"] == "otp"
    # A broker of its own stays as given.
    rabbit = s.replace(CELERY_BROKER_URL="amqp://guest@rabbit//")
    assert broker_url(rabbit) == "amqp://guest@rabbit//"
    assert "master_name" not in transport_options(rabbit)


def test_a_sentinel_broker_url_needs_the_master_name() -> None:
    problems = _problems(CELERY_BROKER_URL="sentinel://10.0.0.1:26379")
    assert problems == ["REDIS_SENTINEL_MASTER is required with a sentinel:// CELERY_BROKER_URL"]


def test_quorum_queues_are_declared_with_a_limit_that_parks_instead_of_dropping() -> None:
    s = Settings.from_env({**GOOD, "CELERY_QUORUM_QUEUES": "1", "CELERY_BROKER_URL": "amqp://h//"})
    queues = celery_config(s)["task_queues"]
    assert [q.name for q in queues] == ["targetsms.send", "targetsms.poll", "targetsms.webhooks"]
    for q in queues:
        args = q.queue_arguments
        assert args["x-queue-type"] == "quorum" and args["x-delivery-limit"] == DELIVERY_LIMIT
        assert args["x-dead-letter-routing-key"] == PARKED_QUEUE
        assert args["x-dead-letter-strategy"] == "at-least-once"
        assert q.exchange.type == "topic"  # native delayed delivery for countdowns needs it
    classic = celery_config(s.replace(CELERY_QUORUM_QUEUES=False))["task_queues"]
    assert all(not q.queue_arguments for q in classic)
    assert all(q.exchange.type == "direct" for q in classic)


def test_compose_ha_profile_has_a_replica_and_three_sentinels_of_one_master() -> None:
    from pathlib import Path

    import yaml

    compose = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text()
    )
    services = compose["services"]
    ha = {name for name, s in services.items() if "ha" in s.get("profiles", [])}
    assert ha == {"redis-replica", "sentinel-1", "sentinel-2", "sentinel-3"}
    assert services["redis-replica"]["command"][1:4] == ["--replicaof", "redis", "6379"]
    for name in ("sentinel-1", "sentinel-2", "sentinel-3"):
        script = services[name]["command"][-1]
        assert "sentinel monitor targetsms redis 6379 2" in script and "--sentinel" in script
    example = (Path(__file__).resolve().parents[2] / "compose.env.example").read_text()
    assert "REDIS_SENTINELS=sentinel-1:26379,sentinel-2:26379,sentinel-3:26379" in example
    assert "REDIS_SENTINEL_MASTER=targetsms" in example
