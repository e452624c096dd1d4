"""Where the broker is and how kombu reaches it: one Redis, a Redis master followed through
Sentinel, or RabbitMQ. The Celery app, Flower (through the app's configuration), the metrics
exporter and ``targetsms check`` all connect through these two functions, so they follow the
same master.

With ``REDIS_SENTINELS`` and no ``CELERY_BROKER_URL`` the broker is the store's Sentinel master:
kombu's ``sentinel://`` transport, one URL per sentinel, ``master_name`` in the transport
options (worker/queue/kombu_redis.py patches its channel as it does the plain Redis one).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from worker.settings import Settings
from worker.store.connection import parse_sentinels

__all__ = ["broker_url", "transport_options"]

# Asking a sentinel is quick or not at all: a dead one must not hold up finding the master.
_SENTINEL_KWARGS = {"socket_timeout": 1, "socket_connect_timeout": 1}

# kombu's Redis transport keeps a list per priority step (0, 3, 6, 9 by default) and names all
# of them in every BRPOP: 12 keys for our three queues, built and sent again for each message a
# worker takes. No task of ours has a priority, so everything is in the step-0 list; one step
# keeps the BRPOP at three keys. Every reader of a queue (workers, Flower, the metrics
# exporter, `targetsms check`, `celery purge`) takes these options, so all count the same lists.
_REDIS_PRIORITY_STEPS = [0]


def broker_url(settings: Settings) -> str:
    """The URL kombu connects to (credentials and db of REDIS_URL on every sentinel URL)."""
    if settings.broker_url or not settings.redis_sentinels:
        return settings.broker
    parts = urlsplit(settings.redis_url)
    userinfo = parts.netloc.rpartition("@")[0]  # as written: already URL-quoted
    auth = f"{userinfo}@" if userinfo else ""
    db = parts.path if parts.path not in ("", "/") else "/0"
    return ";".join(
        f"sentinel://{auth}{_host(host)}:{port}{db}"
        for host, port in parse_sentinels(settings.redis_sentinels)
    )


def transport_options(settings: Settings, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """kombu's transport options for this broker: ``base`` plus what Sentinel needs."""
    options = dict(base or {})
    url = broker_url(settings)
    if url.startswith(("redis://", "rediss://", "sentinel://")):
        options["priority_steps"] = list(_REDIS_PRIORITY_STEPS)
    if url.startswith("sentinel://"):
        options["master_name"] = settings.redis_sentinel_master
        options["sentinel_kwargs"] = dict(_SENTINEL_KWARGS)
    return options


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
