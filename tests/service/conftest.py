"""Service tier: the producer API and the worker's plain functions, in-process, on a real Redis
and a real broker; the SMS provider is the in-memory one (``sms``): no gateway, no socket."""

from __future__ import annotations

import pytest

from worker.providers.memory import InMemoryProvider


@pytest.fixture(autouse=True)
def _producer(process_runtime: None) -> None:
    """The process-wide producer publishes to the session Redis, as a web app's would."""


@pytest.fixture
def sms() -> InMemoryProvider:
    """What phones received (``outbox``, ``last_code``) and what the next sends raise
    (``failures``)."""
    return InMemoryProvider()
