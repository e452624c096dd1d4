"""The producer API on asyncio: ``from worker.aio import request_code, verify_code, ...``.

The same arguments, answers, exceptions and Lua steps as ``worker.request_code`` and the rest
(both run ``worker.api.flows``), awaited on ``redis.asyncio``. Nothing blocks the event loop:
Redis is awaited, and publishing to the broker and captcha checks run in the runtime's bounded
thread pool. Without ``runtime=``, each event loop gets its own, built on the process-wide
settings and task queue.
"""

from __future__ import annotations

import asyncio
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from worker.api import flows
from worker.api.boundary import driving
from worker.api.flows.requesting import Asker
from worker.api.flows.validation import require_code_text
from worker.api.io import Flow, Io, advance
from worker.api.results import CodeRequest, VerificationStatus, VerifyResult
from worker.core.api_keys import ApiKey
from worker.errors import RequestRefused, ServiceUnavailable, VerificationNotFound
from worker.runtime import AsyncRuntime, get_runtime

__all__ = [
    "AsyncRuntime",
    "CodeRequest",
    "RequestRefused",
    "ServiceUnavailable",
    "VerificationNotFound",
    "VerificationStatus",
    "VerifyResult",
    "cancel",
    "get_status",
    "request_code",
    "resend",
    "verify_code",
]

R = TypeVar("R")

_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncRuntime] = (
    weakref.WeakKeyDictionary()
)
_shared_pool: ThreadPoolExecutor | None = None


def loop_runtime() -> AsyncRuntime:
    """This event loop's runtime (what the functions here use without ``runtime=``)."""
    return _rt(None)


def _rt(runtime: AsyncRuntime | None) -> AsyncRuntime:
    """The given runtime, or this loop's (a Redis client cannot be shared between loops)."""
    global _shared_pool
    if runtime is not None:
        return runtime
    loop = asyncio.get_running_loop()
    found = _per_loop.get(loop)
    if found is None:
        if _shared_pool is None:
            _shared_pool = ThreadPoolExecutor(8, thread_name_prefix="targetsms-aio")
        found = AsyncRuntime.from_runtime(get_runtime(), executor=_shared_pool)
        _per_loop[loop] = found
    return found


async def _step(io: Io[Any], rt: AsyncRuntime) -> Any:
    if io.store is not None:
        async with rt.store_slots:
            return await getattr(rt.store, io.store)(*io.args, **io.kwargs)
    assert io.fn is not None
    fn, args, kwargs = io.fn, io.args, io.kwargs
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(rt.executor, lambda: fn(*args, **kwargs))


async def _run(flow: Flow[R], rt: AsyncRuntime) -> R:
    """Drive ``flow`` on this loop: ``worker.api.io.run``, each step awaited."""
    with driving(flow):
        step = advance(flow)
        while isinstance(step, Io):
            try:
                answer = await _step(step, rt)
            except Exception as exc:  # handed to the flow, which may handle it
                step = advance(flow, error=exc)
            else:
                step = advance(flow, answer)
        return step.value


async def request_code(
    phone: str,
    *,
    client_ip: str | None = None,
    captcha_token: str | None = None,
    idempotency_key: str | None = None,
    locale: str | None = None,
    site: ApiKey | None = None,
    runtime: AsyncRuntime | None = None,
) -> CodeRequest:
    """``worker.request_code``, awaited."""
    rt = _rt(runtime)
    asker = Asker(client_ip=client_ip, captcha_token=captcha_token, locale=locale, site=site)
    flow = flows.request_code(rt.base, phone, asker, idempotency_key=idempotency_key)
    return await _run(flow, rt)


async def resend(
    verification_id: str,
    *,
    client_ip: str | None = None,
    captcha_token: str | None = None,
    site: ApiKey | None = None,
    runtime: AsyncRuntime | None = None,
) -> CodeRequest:
    """``worker.resend``, awaited."""
    rt = _rt(runtime)
    asker = Asker(client_ip=client_ip, captcha_token=captcha_token, site=site)
    return await _run(flows.resend(rt.base, verification_id, asker), rt)


async def verify_code(
    verification_id: str,
    code: str,
    *,
    client_ip: str | None = None,
    runtime: AsyncRuntime | None = None,
) -> VerifyResult:
    """``worker.verify_code``, awaited."""
    require_code_text(code)
    rt = _rt(runtime)
    return await _run(flows.verify_code(rt.base, verification_id, code, client_ip=client_ip), rt)


async def get_status(
    verification_id: str, *, runtime: AsyncRuntime | None = None
) -> VerificationStatus:
    """``worker.get_status``, awaited."""
    return await _run(flows.get_status(verification_id), _rt(runtime))


async def cancel(verification_id: str, *, runtime: AsyncRuntime | None = None) -> bool:
    """``worker.cancel``, awaited."""
    return await _run(flows.cancel(verification_id), _rt(runtime))
