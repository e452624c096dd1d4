"""Store tier: the Store and its Lua scripts against a real Redis, no broker, no gateway.

Each test gets its own key prefix and a clock it moves by hand (``Store(clock=...)`` passes it
to every step as ``now_ms``), so time rules are tested without sleeping.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from helpers import FakeClock, require_tool
from redis.cluster import RedisCluster
from store_tier import Steps

from worker.dev.redis_ha import start_cluster
from worker.store import Store, Topology


@pytest.fixture(scope="session")
def cluster_url() -> Iterator[str]:
    """Three masters with a replica each (``redis-cli --cluster create``), for the whole tier."""
    require_tool("redis-cli", "redis-tools")
    cluster = start_cluster()
    yield cluster.url
    cluster.close()


@pytest.fixture(params=["one server", "cluster"])
def topology(request: pytest.FixtureRequest) -> Topology:
    """Every store test runs on one server and on a Redis Cluster: each Lua step must keep to
    one hash slot (a cross-slot step fails there with CROSSSLOT)."""
    if request.param == "cluster":
        return Topology.of(request.getfixturevalue("cluster_url"), cluster=True)
    return Topology(request.getfixturevalue("redis_url"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(topology: Topology, clock: FakeClock) -> Iterator[Store]:
    prefix = f"st-{secrets.token_hex(4)}:"
    store = Store.from_url(topology.url, prefix, clock=clock, topology=topology)
    yield store
    store.close()


@pytest.fixture
def raw(topology: Topology) -> Iterator[redis.Redis]:
    """Redis as stored, for asserting what a step wrote (the product reads it via the Store)."""
    client: Any = (
        RedisCluster.from_url(topology.url, decode_responses=True)
        if topology.cluster
        else redis.Redis.from_url(topology.url, decode_responses=True)
    )
    yield client
    client.close()


@pytest.fixture
def steps(store: Store) -> Steps:
    return Steps(store)
