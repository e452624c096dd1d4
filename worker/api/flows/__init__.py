"""The producer API's checks and steps, written once for the thread and the asyncio API.

Each call is a few Redis round trips and never talks to the gateway, so a web request stays
fast whatever TargetSMS does. Every SMS -- a first request or a resend -- passes the same gate
(``requesting``, then ``admit_sms`` in the store). Expected refusals are exceptions with a
stable ``code``; the caller is told *that* it was limited and for how long, never *which* limit
fired. Each flow yields its I/O (``worker.api.io``) instead of doing it; ``worker.api.producer``
runs them on the caller's thread, ``worker.aio`` on an event loop.

- ``requesting``: ``request_code`` and ``resend``, the gate path every SMS takes;
- ``verifying``: ``verify_code``; ``records``: ``get_status`` and ``cancel``;
- ``validation``: the caller's input (``client_ip``, ids, types), checked before any I/O;
  ``refusals``: how a refusal is told and counted. The error boundary is ``worker.api.boundary``.
"""

from worker.api.flows.records import cancel, get_status
from worker.api.flows.requesting import request_code, resend
from worker.api.flows.verifying import verify_code

__all__ = ["cancel", "get_status", "request_code", "resend", "verify_code"]
