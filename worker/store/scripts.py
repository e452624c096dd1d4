"""The Lua steps (Redis failures are translated in worker/store/connection.py).

Every multi-step change of a verification happens in one script (dramatiq's way), so two
workers, or a worker and a web request, never see a half-done state. A script takes its keys in
KEYS and one JSON object in ARGV[1], and answers with one JSON object.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from worker.errors import StoreUnavailable
from worker.store.connection import Client, translated

__all__ = ["Scripts", "StoreUnavailable", "translated"]

_NAMES = (
    "create",
    "abandon",
    "verify",
    "resend",
    "cancel",
    "claim_send",
    "extend_lock",
    "store_sent",
    "store_failed",
    "poll_lease",
    "poll_apply",
    "poll_schedule",
    "push_apply",
)


def _sources() -> dict[str, str]:
    package = resources.files(__package__) / "lua"
    common = (package / "common.lua").read_text(encoding="utf-8")
    return {name: common + (package / f"{name}.lua").read_text(encoding="utf-8") for name in _NAMES}


_SOURCES = _sources()


class Scripts:
    """The registered scripts of one client (EVALSHA, loaded again after a Redis restart)."""

    def __init__(self, client: Client) -> None:
        self._scripts = {name: client.register_script(src) for name, src in _SOURCES.items()}

    def run(self, name: str, keys: Sequence[str], arg: Mapping[str, Any]) -> dict[str, Any]:
        out = self._scripts[name](keys=list(keys), args=[json.dumps(arg)])
        answer: dict[str, Any] = json.loads(out)
        return answer
