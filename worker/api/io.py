"""The producer API's flows are written once, as generators that yield the I/O they need.

A flow (``worker.api.flows``) yields an ``Io`` -- a Store method or a blocking call -- and is
sent its answer (or thrown its exception) back, so the same checks, gate and result mapping run
under the thread API (``run``, here) and under asyncio (``worker.aio``, which awaits the asyncio
Store and runs blocking calls in a bounded executor). ``boundary.driving`` turns Redis or broker
trouble into ``ServiceUnavailable`` under either.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

from worker.api.boundary import driving
from worker.store import Store

__all__ = ["Done", "Flow", "Io", "advance", "blocking", "on_store", "run"]

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


@dataclass(frozen=True, slots=True)
class Done(Generic[R]):
    value: R


def advance(flow: Flow[R], answer: Any = None, error: Exception | None = None) -> Io[Any] | Done[R]:
    """Hand the flow the last step's answer (or exception): its next step, or its result."""
    try:
        return flow.send(answer) if error is None else flow.throw(error)
    except StopIteration as stop:
        return Done(stop.value)


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
