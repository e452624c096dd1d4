"""Service tier: the producer API and the worker's plain functions, in-process, on a real Redis."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _producer(process_runtime: None) -> None:
    """The process-wide producer publishes to the session Redis, as a web app's would."""
