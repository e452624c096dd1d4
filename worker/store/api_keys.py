"""Per-site API keys in Redis: the digest of each key, its limits, its webhook, its counters.

Layout (names in ``keys.py``): ``ak:<name>`` a hash per key, ``akd:<digest>`` the name a key
digest belongs to, ``aks`` the set of names. A key is written and revoked in one MULTI, so a
lookup never finds a digest without its key. Per-key counters go into the same five-minute
buckets and all-time ``totals`` as every other counter (fields ``site:<name>:<outcome>``), so
``targetsms stats`` and the metrics exporter read them where they read the rest. The Lua steps
count a verification's outcomes for the key that owns it (``count_site`` in ``common.lua``:
created, replayed, resent, verify:<reason>) in the step itself; ``count_api_outcome`` counts
what is decided before any step (a refusal).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

import redis

from worker.core.api_keys import ApiKey
from worker.store.calls import SITE_FIELD
from worker.store.core import STATS_TTL_MS, StoreCore, guarded

__all__ = ["SITE_FIELD", "ApiKeys"]

#: The record field that names the key a verification was made with (its owner).


def _key(name: str, fields: Mapping[Any, Any]) -> ApiKey | None:
    if not fields.get("digest"):
        return None
    return ApiKey(
        name=name,
        digest=fields["digest"],
        per_hour=int(fields.get("per_hour") or 0),
        per_day=int(fields.get("per_day") or 0),
        created_at=int(fields.get("created_at") or 0),
        webhook_url=fields.get("webhook_url") or None,
        webhook_secret=fields.get("webhook_secret") or None,
    )


class ApiKeys(StoreCore):
    @guarded
    def create_api_key(self, key: ApiKey) -> bool:
        """Store a new key; False when one of that name exists (nothing changed)."""
        k = self.keys
        fields: dict[str | bytes, str | int] = {
            "per_hour": key.per_hour,
            "per_day": key.per_day,
            "created_at": key.created_at,
            "webhook_url": key.webhook_url or "",
            "webhook_secret": key.webhook_secret or "",
        }
        # The digest first and alone: a second create of the name stops here.
        if not self._redis.hsetnx(k.api_key(key.name), "digest", key.digest):
            return False
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(k.api_key(key.name), mapping=dict[Any, Any](fields))
            pipe.set(k.api_key_digest(key.digest), key.name)
            pipe.sadd(k.api_key_names, key.name)
            pipe.execute()
        return True

    @guarded
    def api_key(self, name: str) -> ApiKey | None:
        return _key(name, self._redis.hgetall(self.keys.api_key(name)))

    @guarded
    def api_key_by_digest(
        self, digest: str, *, verification_id: str | None = None
    ) -> tuple[ApiKey | None, bool]:
        """The key whose digest this is (compared in constant time) and whether it owns
        ``verification_id``, in one round trip (``api_key_auth.lua``)."""
        k = self.keys
        out = self._run(
            "api_key_auth",
            [k.api_key_digest(digest), k.record(verification_id) if verification_id else k.unused],
            {"prefix": k.at, "owner_field": SITE_FIELD},
        )
        name = out.get("name")
        key = _key(name, out.get("fields") or {}) if isinstance(name, str) else None
        if key is None or not hmac.compare_digest(key.digest, digest):
            return None, False
        owner = out.get("owner")
        owned = isinstance(owner, str) and hmac.compare_digest(owner.encode(), key.name.encode())
        return key, owned

    @guarded
    def list_api_keys(self) -> list[ApiKey]:
        names = sorted(str(n) for n in self._redis.smembers(self.keys.api_key_names))
        with self._redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hgetall(self.keys.api_key(name))
            rows = pipe.execute()
        return [key for name, row in zip(names, rows, strict=True) if (key := _key(name, row))]

    def revoke_api_key(self, name: str) -> bool:
        """Delete the key at once: its next request is a 401. False when there was none."""
        key = self.api_key(name)
        if key is None:
            return False
        self._drop_api_key(key)
        return True

    @guarded
    def _drop_api_key(self, key: ApiKey) -> None:
        k = self.keys
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(k.api_key(key.name), k.api_key_digest(key.digest))
            pipe.srem(k.api_key_names, key.name)
            pipe.execute()

    @guarded
    def update_api_key(self, name: str, fields: Mapping[str, str | int]) -> bool:
        """Change a key's webhook or limits; False when there is no such key (a revoke that
        lands first wins: nothing is written then)."""
        out = self._run(
            "api_key_update",
            [self.keys.api_key(name)],
            {"fields": {f: str(v) for f, v in fields.items()}},
        )
        return bool(out["updated"])

    def count_api_outcome(self, name: str, outcome: str) -> None:
        """One API outcome of this key that no Lua step counted (``refused:<code>``). Best
        effort: a counter must not fail the request it counts."""
        field, stats = f"site:{name}:{outcome}", self.stats_key()
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                pipe.hincrby(stats, field, 1)
                pipe.pexpire(stats, STATS_TTL_MS)
                pipe.hincrby(self.keys.totals, field, 1)
                pipe.execute()
        except (redis.RedisError, OSError):
            pass
