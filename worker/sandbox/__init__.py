"""Sandbox gateway: a real HTTP server that imitates TargetSMS for development, demos, tests and
benchmarks, so nobody needs real credentials. Independent of ``worker.gateway`` on purpose: it
exists to catch our client's mistakes, not to share them.

Run it with ``python -m worker.sandbox`` (or ``targetsms fake-gateway``); embed it with
``start_in_thread``. Magic phone numbers (``worker.sandbox.magic``) force every outcome.
"""

from .magic import MAGIC_PHONES, describe_magic_phones
from .server import (
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
