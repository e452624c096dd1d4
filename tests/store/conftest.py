"""Store tier: the Store and its Lua scripts against a real Redis, no broker, no gateway.

Each test gets its own key prefix and a clock it moves by hand (``Store(clock=...)`` passes it
to every step as ``now_ms``), so time rules are tested without sleeping.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import redis
from helpers import FakeClock
from store_tier import Steps

from worker.store import Store


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(redis_url: str, clock: FakeClock) -> Iterator[Store]:
    store = Store.from_url(redis_url, f"st-{secrets.token_hex(4)}:", clock=clock)
    yield store
    store.close()


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    """Redis as stored, for asserting what a step wrote (the product reads it via the Store)."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def steps(store: Store) -> Steps:
    return Steps(store)
