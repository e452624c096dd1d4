"""``targetsms``: the command line. Results are one JSON object on stdout; problems are one
line on stderr. Exit 0 means success, 1 a refusal or failure, 2 a usage error.

Settings come from the environment and from a ``.env`` in the current directory when there is
one (the file ``honcho start`` reads), so the CLI works beside it; the environment wins.

- ``entry``: ``main``; ``parser``: the root parser and ``GROUPS``, the command groups in order;
- ``commands``: what a group registers with, and ``CLIError``; ``output``: JSON and ``--text``;
- one module per group: ``verification`` (send, verify, status, resend, cancel),
  ``operations`` (block, unblock, stats, check, balance, metrics), ``push`` (push-receiver,
  push-register), ``api`` (api, api-key), ``dev`` (fake-gateway, demo: the one door into
  ``worker.dev``).

A new group is a module with ``register(commands)`` plus its line in ``parser.GROUPS``.
"""

from worker.ops.cli.entry import main

__all__ = ["main"]
