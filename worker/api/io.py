"""The producer API's flows are written once, as generators that yield the I/O they need.

A flow (``worker.api.flows``) yields an ``Io`` -- a Store method or a blocking call -- and is
sent its answer (or thrown its exception) back, so the same checks, gate and result mapping run
under the thread API (``run``, here) and under asyncio (``worker.aio``, which awaits the asyncio
Store and runs blocking calls in a bounded executor). Redis or broker trouble leaves a flow as
``ServiceUnavailable`` either way.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

from worker.errors import QueueUnavailable, ServiceUnavailable, StoreUnavailable
from worker.store import Store

__all__ = ["Done", "Flow", "Io", "advance", "blocking", "driving", "on_store", "run", "unavailable"]

log = logging.getLogger("targetsms.producer")

P = ParamSpec("P")
R = TypeVar("R")


class Io(Generic[R]):
    """One step of I/O: ``store`` names a ``Store`` method (the asyncio Store has the same),
    otherwise ``fn`` is a blocking call. ``yield from io`` hands it over and returns its answer."""

    __slots__ = ("args", "fn", "kwargs", "store")

    def __init__(
        self,
        *,
        store: str | None,
        fn: Callable[..., Any] | None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self.store, self.fn, self.args, self.kwargs = store, fn, args, kwargs

    def __iter__(self) -> Generator[Io[Any], Any, R]:
        answer: R = yield self
        return answer

    def __repr__(self) -> str:  # the arguments may hold a phone number: never shown
        return f"Io({self.store or getattr(self.fn, '__qualname__', '?')})"


#: A flow: yields ``Io`` steps, returns the API's answer.
Flow = Generator[Io[Any], Any, R]


def on_store(
    method: Callable[Concatenate[Store, P], R], *args: P.args, **kwargs: P.kwargs
) -> Io[R]:
    """``Store.<method>(*args, **kwargs)`` on whichever Store runs the flow (typed by Store's)."""
    return Io(store=method.__name__, fn=None, args=args, kwargs=kwargs)


def blocking(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Io[R]:
    """A call that may block (publishing, a captcha check): off the event loop under asyncio."""
    return Io(store=None, fn=fn, args=args, kwargs=kwargs)


def unavailable(exc: StoreUnavailable | QueueUnavailable) -> ServiceUnavailable:
    log.error("%s", exc)
    return ServiceUnavailable(f"{exc}; try again shortly")


@dataclass(frozen=True, slots=True)
class Done(Generic[R]):
    value: R


def advance(flow: Flow[R], answer: Any = None, error: Exception | None = None) -> Io[Any] | Done[R]:
    """Hand the flow the last step's answer (or exception): its next step, or its result."""
    try:
        return flow.send(answer) if error is None else flow.throw(error)
    except StopIteration as stop:
        return Done(stop.value)


@contextlib.contextmanager
def driving(flow: Flow[Any]) -> Iterator[None]:
    """Around a driver: Redis or broker trouble leaves as ``ServiceUnavailable``."""
    try:
        yield
    except (StoreUnavailable, QueueUnavailable) as exc:
        raise unavailable(exc) from None
    finally:
        flow.close()


def run(flow: Flow[R], store: Store) -> R:
    """Drive ``flow`` on this thread."""
    with driving(flow):
        step = advance(flow)
        while isinstance(step, Io):
            try:
                if step.store is not None:
                    answer = getattr(store, step.store)(*step.args, **step.kwargs)
                else:
                    assert step.fn is not None
                    answer = step.fn(*step.args, **step.kwargs)
            except Exception as exc:  # handed to the flow, which may handle it
                step = advance(flow, error=exc)
            else:
                step = advance(flow, answer)
        return step.value
