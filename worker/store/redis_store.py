"""The Store: every read and write of our Redis state, each multi-step change one Lua step.

Callers see typed inputs and outcomes and one exception, ``StoreUnavailable``; key names, script
contracts and Redis' own exceptions stay in this package. Every key has a TTL except the deny
list, the API keys, the (capped) webhook stream and the all-time counters.

``Store`` is only the sum of its jobs, one module each over a shared core (``core.py`` says
why): ``verifications`` (the producer's steps), ``sending`` and ``delivery`` (the worker's),
``pending`` (the sweep of sends whose message was lost),
``deny``, ``counters`` and ``events``, ``api_keys`` and ``webhooks`` (the HTTP API's site keys
and its webhook stream); ``calls`` holds the producer's steps as plain values (shared with the
asyncio Store, ``aio``) and ``gate`` the SMS gate's share of them. A new job
is a module with a ``StoreCore`` subclass, added to the bases below.
"""

from __future__ import annotations

from worker.store.api_keys import ApiKeys
from worker.store.counters import Counters
from worker.store.delivery import Delivery
from worker.store.deny import DenyList
from worker.store.events import Events
from worker.store.pending import PendingSends
from worker.store.sending import Sending
from worker.store.verifications import Verifications
from worker.store.webhooks import WebhookStream

__all__ = ["Store"]


class Store(
    Verifications,
    Sending,
    PendingSends,
    Delivery,
    DenyList,
    Counters,
    Events,
    ApiKeys,
    WebhookStream,
):
    """Our Redis state behind one door (see the job modules for the steps)."""
