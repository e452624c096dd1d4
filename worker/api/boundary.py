"""The edge every producer call shares, thread or asyncio: the runtime a call uses, and Redis
or broker trouble made one error (``ServiceUnavailable``) whichever runner drives the flow."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Generator, Iterator
from typing import Any

from worker.errors import QueueUnavailable, ServiceUnavailable, StoreUnavailable
from worker.runtime import Runtime, get_runtime

__all__ = ["driving", "runtime_or_default", "unavailable"]

log = logging.getLogger("targetsms.producer")


def unavailable(exc: StoreUnavailable | QueueUnavailable) -> ServiceUnavailable:
    log.error("%s", exc)
    return ServiceUnavailable(f"{exc}; try again shortly")


@contextlib.contextmanager
def driving(flow: Generator[Any, Any, Any]) -> Iterator[None]:
    """Around a runner (``io.run``, ``worker.aio``): Redis or broker trouble leaves as
    ``ServiceUnavailable``, and the flow is closed whatever happens."""
    try:
        yield
    except (StoreUnavailable, QueueUnavailable) as exc:
        raise unavailable(exc) from None
    finally:
        flow.close()


def runtime_or_default(runtime: Runtime | None) -> Runtime:
    """The runtime a call was given, or the process-wide one."""
    return runtime if runtime is not None else get_runtime()
