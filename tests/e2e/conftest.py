"""End-to-end tier: real worker subprocesses, brokers, Flower. Every test here is ``slow``."""

from __future__ import annotations

from pathlib import Path

import pytest
from served import serve as serve  # the fixture, for the framework tests

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _producer(process_runtime: None) -> None:
    """The process-wide producer publishes to the session Redis, as a web app's would."""
