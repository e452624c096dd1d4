"""A promoted replica or a node that took over a slot has an empty script cache: the next step
gets NOSCRIPT, loads its script again and runs, never failing the caller."""

from __future__ import annotations

from typing import Any

from store_tier import PHONE, Steps, gate

from worker.store import Store


def test_a_step_after_the_script_cache_is_emptied_loads_its_script_again(
    store: Store, steps: Steps, raw: Any
) -> None:
    create_sha = store._scripts._scripts["create"].sha
    first = steps.queued()
    raw.script_flush()  # every master (RedisCluster) or the one server: what a failover leaves
    assert raw.script_exists(create_sha) == [False]
    second = steps.queued(gate(PHONE))
    assert second != first
    record, _ = store.load(second)
    assert record["state"] == "queued"
    assert raw.script_exists(create_sha) == [True]
