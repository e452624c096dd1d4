"""``Authorization: Bearer KEY``: the key's digest is looked up, and compared in constant time.

Every failure is the same ``None`` (one 401 without detail): no hint whether a key was missing,
malformed, revoked or simply wrong. The verification a request names is looked up in the same
round trip, so ownership costs nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass

from worker.core.api_keys import KEY_PREFIX, MAX_KEY_CHARS, ApiKey, key_digest
from worker.core.codes import is_verification_id
from worker.store import Store

__all__ = ["Caller", "authenticate"]


@dataclass(frozen=True, slots=True)
class Caller:
    key: ApiKey
    owns_target: bool  # the verification the path names was made with this key


def authenticate(store: Store, authorization: str | None, verification_id: str) -> Caller | None:
    """The caller, and whether it owns ``verification_id`` ("" when the path names none)."""
    if not authorization:
        return None
    scheme, _, key = authorization.strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key.startswith(KEY_PREFIX) or len(key) > MAX_KEY_CHARS:
        return None
    target = verification_id if is_verification_id(verification_id) else None
    found, owned = store.api_key_by_digest(key_digest(key), verification_id=target)
    return Caller(found, owned) if found is not None else None
