"""Sandbox gateway: a real HTTP server that imitates TargetSMS for development, demos, tests and
benchmarks, so nobody needs real credentials. Independent of ``worker.providers.targetsms`` on
purpose: it exists to catch our client's mistakes, not to share them.

Run it with ``python -m worker.dev.sandbox`` (or ``targetsms fake-gateway``); embed it with
``start_in_thread``. Magic phone numbers (``worker.dev.sandbox.magic``) force every outcome.
"""

from worker.dev.sandbox.magic import MAGIC_PHONES, describe_magic_phones
from worker.dev.sandbox.server import (
    RunningSandbox,
    SandboxConfig,
    add_arguments,
    config_from_args,
    run,
    start_in_thread,
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
