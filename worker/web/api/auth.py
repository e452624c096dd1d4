"""``Authorization: Bearer KEY``: the key's digest is looked up, and compared in constant time.

Every failure is the same ``None`` (one 401 without detail): no hint whether a key was missing,
malformed, revoked or simply wrong.
"""

from __future__ import annotations

from worker.core.api_keys import KEY_PREFIX, MAX_KEY_CHARS, ApiKey, key_digest
from worker.store import Store

__all__ = ["authenticate"]


def authenticate(store: Store, authorization: str | None) -> ApiKey | None:
    if not authorization:
        return None
    scheme, _, key = authorization.strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key.startswith(KEY_PREFIX) or len(key) > MAX_KEY_CHARS:
        return None
    return store.api_keys.by_digest(key_digest(key))
