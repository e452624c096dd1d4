"""Per-site API keys: names, the keys themselves and the one digest of a key that is stored.

A key is 256 random bits (``secrets.token_urlsafe``) behind a ``tsk_`` prefix, so a plain
SHA-256 digest is enough to store: nobody can search a space that large, and the digest does
not depend on ``OTP_SECRET_KEY``, so rotating that key keeps every site's key working. The
webhook secret is Standard Webhooks' ``whsec_`` + base64 of 32 random bytes.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field

from worker.core.secrets import secret_problems

__all__ = [
    "KEY_PREFIX",
    "MAX_KEY_CHARS",
    "ApiKey",
    "key_digest",
    "name_problem",
    "new_api_key",
    "new_webhook_secret",
]

KEY_PREFIX = "tsk_"
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
# A presented key longer than this is not one of ours: refused before hashing.
MAX_KEY_CHARS = 128


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One site's key as stored: never the key itself, and the webhook secret out of repr."""

    name: str
    digest: str
    per_hour: int  # SMS this site may send per hour (0: no limit of its own)
    per_day: int
    created_at: int  # ms
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a key, or None: it shows up in metrics labels and Redis keys."""
    if not _NAME.fullmatch(name):
        return "a key name is 1 to 40 of a-z, 0-9, - and _, starting with a letter or digit"
    return None


def new_api_key() -> str:
    """A fresh key, checked by the rule every secret passes (a random one practically always
    does; one that by chance does not is drawn again)."""
    while True:
        body = secrets.token_urlsafe(32)
        if not secret_problems("API key", body):
            return KEY_PREFIX + body


def key_digest(key: str) -> str:
    """The SHA-256 hex of a presented key: what is stored and looked up."""
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
