"""The deny list: configuration with no TTL, read by the gate (refusals: test_create.py)."""

from __future__ import annotations

import redis

from worker.store import Store


def test_prefixes_are_added_listed_and_removed(store: Store, raw: redis.Redis) -> None:
    assert store.deny_list() == []
    store.deny_add("+7900")
    store.deny_add("+44")
    store.deny_add("+7900")
    assert store.deny_list() == ["+44", "+7900"]
    assert raw.pttl(store.keys.deny) == -1  # never expires
    assert store.deny_remove("+44") is True
    assert store.deny_remove("+44") is False
    assert store.deny_list() == ["+7900"]
