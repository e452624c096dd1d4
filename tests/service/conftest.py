"""Service tier: the producer API and the worker's plain functions, in-process, on a real Redis
and a real broker; the SMS provider is the in-memory one (``sms``): no gateway, no socket."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from worker.providers.memory import InMemoryProvider
from worker.queue.names import POLL_QUEUE, SEND_QUEUE


@pytest.fixture(autouse=True)
def _producer(process_runtime: None) -> None:
    """The process-wide producer publishes to the session Redis, as a web app's would."""


@pytest.fixture
def sms() -> InMemoryProvider:
    """What phones received (``outbox``, ``last_code``) and what the next sends raise
    (``failures``)."""
    return InMemoryProvider()


@pytest.fixture
def drop_queued_messages(redis_url: str) -> Iterator[None]:
    """For tests that queue sends no worker takes: leave the broker clean for the next test."""
    yield
    redis.Redis.from_url(redis_url).delete(SEND_QUEUE, POLL_QUEUE)
