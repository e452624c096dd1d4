"""The edge every producer call shares: its runtime, and Redis or broker trouble made one error."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from worker.errors import ServiceUnavailable
from worker.queue.base import QueueUnavailable
from worker.runtime import Runtime, get_runtime
from worker.store import StoreUnavailable

__all__ = ["runtime_or_default", "translated"]

log = logging.getLogger("targetsms.producer")

P = ParamSpec("P")
R = TypeVar("R")


def translated(fn: Callable[P, R]) -> Callable[P, R]:
    """Redis or broker trouble reaches the caller as one exception, ``ServiceUnavailable``."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (StoreUnavailable, QueueUnavailable) as exc:
            log.error("%s", exc)
            raise ServiceUnavailable(f"{exc}; try again shortly") from None

    return wrapper


def runtime_or_default(runtime: Runtime | None) -> Runtime:
    """The runtime a call was given, or the process-wide one."""
    return runtime if runtime is not None else get_runtime()
