"""Private RabbitMQ vhosts for tests and benchmarks, made through the management API: the task
queues have fixed names, so a run that shares a broker must not see (or purge) another's."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import requests

__all__ = ["Management", "management_api", "private_vhost"]

MANAGEMENT_PORT = 15672


@dataclass(frozen=True)
class Management:
    """The management API of an AMQP URL's broker, with that URL's credentials."""

    api: str
    auth: tuple[str, str] = field(repr=False)  # the broker's user and password


def management_api(amqp_url: str) -> Management:
    """Where ``amqp_url``'s management API would be (port 15672 on its host); not contacted."""
    parts = urlsplit(amqp_url)
    auth = (unquote(parts.username or "guest"), unquote(parts.password or "guest"))
    return Management(f"http://{parts.hostname or '127.0.0.1'}:{MANAGEMENT_PORT}/api", auth)


@contextlib.contextmanager
def private_vhost(amqp_url: str, label: str) -> Iterator[str]:
    """A new vhost with every right for ``amqp_url``'s user, deleted (queues and all)
    afterwards; yields the AMQP URL that reaches it. Raises ``requests.RequestException``
    when the management API does not make it."""
    mgmt = management_api(amqp_url)
    name = f"{label}-{secrets.token_hex(4)}"
    vhost = f"{mgmt.api}/vhosts/{quote(name, safe='')}"
    requests.put(vhost, auth=mgmt.auth, timeout=10).raise_for_status()
    try:
        requests.put(
            f"{mgmt.api}/permissions/{quote(name, safe='')}/{quote(mgmt.auth[0], safe='')}",
            json={"configure": ".*", "write": ".*", "read": ".*"},
            auth=mgmt.auth,
            timeout=10,
        ).raise_for_status()
        yield urlunsplit(urlsplit(amqp_url)._replace(path=f"/{quote(name, safe='')}"))
    finally:
        with contextlib.suppress(requests.RequestException):
            requests.delete(vhost, auth=mgmt.auth, timeout=30)
