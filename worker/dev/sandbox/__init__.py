"""Sandbox gateway: a real HTTP server that imitates TargetSMS for development, demos, tests and
benchmarks, so nobody needs real credentials. Independent of ``worker.providers.targetsms`` on
purpose: it exists to catch our client's mistakes, not to share them.

Run it with ``python -m worker.dev.sandbox`` (or ``targetsms fake-gateway``); embed it with
``start_in_thread``. Magic phone numbers (``worker.dev.sandbox.magic``) force every outcome.
The names load on first use: ``targetsms`` offers the flags without importing the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from worker.core.lazy import lazy_names

if TYPE_CHECKING:
    from worker.dev.sandbox.config import SandboxConfig
    from worker.dev.sandbox.magic import MAGIC_PHONES, describe_magic_phones
    from worker.dev.sandbox.options import add_arguments, config_from_args
    from worker.dev.sandbox.server import RunningSandbox, run, start_in_thread

__getattr__ = lazy_names(
    __name__,
    {
        "worker.dev.sandbox.config": ("SandboxConfig",),
        "worker.dev.sandbox.magic": ("MAGIC_PHONES", "describe_magic_phones"),
        "worker.dev.sandbox.options": ("add_arguments", "config_from_args"),
        "worker.dev.sandbox.server": ("RunningSandbox", "run", "start_in_thread"),
    },
)

__all__ = [
    "MAGIC_PHONES",
    "RunningSandbox",
    "SandboxConfig",
    "add_arguments",
    "config_from_args",
    "describe_magic_phones",
    "run",
    "start_in_thread",
]
