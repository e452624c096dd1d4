"""Per-site API keys in Redis: the digest of each key, its limits, its webhook, its counters.

Layout (names in ``keys.py``): ``ak:<name>`` a hash per key, ``akd:<digest>`` the name a key
digest belongs to, ``aks`` the set of names. A key is written and revoked in one MULTI, so a
lookup never finds a digest without its key. Per-key counters go into the same five-minute
buckets and all-time ``totals`` as every other counter (fields ``site:<name>:<outcome>``), so
``targetsms stats`` and the metrics exporter read them where they read the rest.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from typing import Any

import redis

from worker.core.api_keys import ApiKey
from worker.store.keys import Keys
from worker.store.scripts import translated

__all__ = ["SITE_FIELD", "ApiKeyStore"]

#: The record field that names the key a verification was made with (its owner).
SITE_FIELD = "site"


_UPDATE = """
if redis.call('HEXISTS', KEYS[1], 'digest') == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""


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


class ApiKeyStore:
    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        *,
        where: str,
        stats_key: Callable[[], str],
        stats_ttl_ms: int,
    ) -> None:
        self._redis = client
        self._keys = keys
        self._where = where
        self._stats_key = stats_key
        self._stats_ttl_ms = stats_ttl_ms
        self._update = client.register_script(_UPDATE)

    def create(self, key: ApiKey) -> bool:
        """Store a new key; False when one of that name exists (nothing changed)."""
        k = self._keys
        fields: dict[str | bytes, str | int] = {
            "per_hour": key.per_hour,
            "per_day": key.per_day,
            "created_at": key.created_at,
            "webhook_url": key.webhook_url or "",
            "webhook_secret": key.webhook_secret or "",
        }
        with translated(self._where):
            # The digest first and alone: a second create of the name stops here.
            if not self._redis.hsetnx(k.api_key(key.name), "digest", key.digest):
                return False
            with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(k.api_key(key.name), mapping=dict[Any, Any](fields))
                pipe.set(k.api_key_digest(key.digest), key.name)
                pipe.sadd(k.api_key_names, key.name)
                pipe.execute()
        return True

    def get(self, name: str) -> ApiKey | None:
        with translated(self._where):
            fields = self._redis.hgetall(self._keys.api_key(name))
        return _key(name, fields)

    def by_digest(self, digest: str) -> ApiKey | None:
        """The key whose digest this is; the stored digest is compared in constant time."""
        with translated(self._where):
            name = self._redis.get(self._keys.api_key_digest(digest))
            if not isinstance(name, str):
                return None
            key = _key(name, self._redis.hgetall(self._keys.api_key(name)))
        if key is None or not hmac.compare_digest(key.digest, digest):
            return None
        return key

    def list(self) -> list[ApiKey]:
        with translated(self._where):
            names = sorted(str(n) for n in self._redis.smembers(self._keys.api_key_names))
            with self._redis.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.hgetall(self._keys.api_key(name))
                rows = pipe.execute()
        return [key for name, row in zip(names, rows, strict=True) if (key := _key(name, row))]

    def revoke(self, name: str) -> bool:
        """Delete the key at once: its next request is a 401. False when there was none."""
        key = self.get(name)
        if key is None:
            return False
        k = self._keys
        with translated(self._where), self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(k.api_key(name), k.api_key_digest(key.digest))
            pipe.srem(k.api_key_names, name)
            pipe.execute()
        return True

    def update(self, name: str, **fields: str | int) -> bool:
        """Change a key's webhook or limits; False when there is no such key (a revoke that
        lands first wins: nothing is written then)."""
        flat = [str(x) for pair in fields.items() for x in pair]
        with translated(self._where):
            return bool(self._update(keys=[self._keys.api_key(name)], args=flat))

    def count(self, name: str, outcome: str) -> None:
        """One API outcome of this key (``created``, ``refused:<code>``, ``verify:<reason>``).
        Best effort: a counter must not fail the request it counts."""
        field, stats = f"site:{name}:{outcome}", self._stats_key()
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                pipe.hincrby(stats, field, 1)
                pipe.pexpire(stats, self._stats_ttl_ms)
                pipe.hincrby(self._keys.totals, field, 1)
                pipe.execute()
        except (redis.RedisError, OSError):
            pass
