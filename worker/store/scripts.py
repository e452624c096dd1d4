"""The Lua steps (Redis failures are translated in worker/store/connection.py).

Every multi-step change of a verification happens in one script (dramatiq's way), so two
workers, or a worker and a web request, never see a half-done state. A script takes its keys in
KEYS and one JSON object in ARGV[1], and answers with one JSON object.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any

from worker.errors import StoreUnavailable
from worker.store.calls import Call, answer
from worker.store.connection import translated

__all__ = ["Scripts", "StoreUnavailable", "registered", "translated"]

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
    "sweep_sends",
    "push_apply",
    "api_key_auth",
    "api_key_update",
)


def _sources() -> dict[str, str]:
    package = resources.files(__package__) / "lua"
    common = (package / "common.lua").read_text(encoding="utf-8")
    return {name: common + (package / f"{name}.lua").read_text(encoding="utf-8") for name in _NAMES}


_SOURCES = _sources()


def registered(client: Any) -> dict[str, Any]:
    """Every script registered on ``client``, thread or asyncio (EVALSHA, loaded again after a
    Redis restart)."""
    return {name: client.register_script(src) for name, src in _SOURCES.items()}


class Scripts:
    """The registered scripts of one thread client."""

    def __init__(self, client: Any) -> None:
        self._scripts = registered(client)

    def run(self, call: Call, clock: Callable[[], float] | None = None) -> dict[str, Any]:
        return answer(self._scripts[call.name](keys=call.keys, args=call.argv(clock)))
