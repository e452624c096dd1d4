"""The asyncio producer API (worker.aio) on a real Redis: the same steps, answers and
exceptions as the thread API, with publishing and captcha checks off the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
from captcha_standin import SECRET, StandIn, token
from celery import Celery
from helpers import make_settings, raw_redis, refused_port

import worker
from worker import aio
from worker.dev.devstack import free_port
from worker.providers.memory import InMemoryProvider
from worker.queue.celery_app import CeleryQueue, configure
from worker.runtime import AsyncRuntime, Runtime
from worker.settings import Settings
from worker.steps.sending import send_verification
from worker.store import Store

PHONE = "+79001234567"
T = TypeVar("T")


class ThreadNoting:
    """The real Celery queue, noting which thread each publish ran on."""

    def __init__(self, inner: CeleryQueue) -> None:
        self.inner = inner
        self.threads: list[int] = []

    def enqueue_send(self, verification_id: str) -> None:
        self.threads.append(threading.get_ident())
        self.inner.enqueue_send(verification_id)

    def enqueue_poll(self, marker: str, delay_seconds: float) -> None:
        self.inner.enqueue_poll(marker, delay_seconds)


def celery_queue(settings: Settings) -> CeleryQueue:
    app = configure(Celery(f"aio-test-{free_port()}"), lambda: settings)
    return CeleryQueue(app, max_countdown_seconds=5)


def on_loop(make: Callable[[AsyncRuntime], Awaitable[T]], base: Runtime) -> T:
    """Run ``make(runtime)`` on a fresh loop with an AsyncRuntime of ``base``, then close it."""

    async def main() -> T:
        rt = AsyncRuntime.from_runtime(base)
        try:
            return await make(rt)
        finally:
            await rt.aclose()

    return asyncio.run(main())


@pytest.fixture
def base(redis_url: str, sms: InMemoryProvider) -> Iterator[Runtime]:
    settings = make_settings(redis_url, OTP_RESEND_COOLDOWN_SECONDS=60)
    store = Store.from_url(settings.redis_url, settings.redis_prefix)
    queue = ThreadNoting(celery_queue(settings))
    rt = Runtime(settings, store, task_queue=queue, sms_provider=sms)
    yield rt
    rt.close()


def test_a_code_requested_and_verified_on_a_loop(base: Runtime, sms: InMemoryProvider) -> None:
    async def flow(rt: AsyncRuntime) -> tuple[Any, ...]:
        req = await aio.request_code(PHONE, client_ip="203.0.113.7", runtime=rt)
        # The worker's step is the thread one: what aio wrote is what it reads.
        sent = await asyncio.to_thread(send_verification, base, req.id)
        status = await aio.get_status(req.id, runtime=rt)
        wrong = await aio.verify_code(req.id, "000000", runtime=rt)
        right = await aio.verify_code(req.id, sms.last_code(PHONE), runtime=rt)
        return req, sent.result, status, wrong, right

    loop_thread: list[int] = []

    async def noting_loop(rt: AsyncRuntime) -> tuple[Any, ...]:
        loop_thread.append(threading.get_ident())
        return await flow(rt)

    req, sent, status, wrong, right = on_loop(noting_loop, base)
    assert req.created and req.state == "queued"
    assert sent == "sent"
    assert status.state == "sent" and status.phone == PHONE and status.sends == 1
    assert (wrong.ok, wrong.reason, wrong.attempts_left) == (False, "wrong", 4)
    assert right.ok and right.phone == PHONE
    # Publishing ran in the runtime's pool, never on the loop's thread.
    assert isinstance(base.queue, ThreadNoting)
    assert base.queue.threads and loop_thread[0] not in base.queue.threads
    # The thread API sees the same record.
    assert worker.get_status(req.id, runtime=base).state == "verified"


def test_refusals_and_not_found_are_the_thread_apis(base: Runtime) -> None:
    async def flow(rt: AsyncRuntime) -> list[Any]:
        seen: list[Any] = []
        for call in (
            lambda: aio.request_code("8 900 123", runtime=rt),
            lambda: aio.request_code("+77012345678", runtime=rt),
            lambda: aio.request_code(PHONE, client_ip="not-an-ip", runtime=rt),
        ):
            with pytest.raises(aio.RequestRefused) as info:
                await call()
            seen.append(info.value.code)
        await aio.request_code(PHONE, runtime=rt)
        with pytest.raises(worker.RequestRefused) as limited:
            await aio.request_code(PHONE, runtime=rt)
        seen.append((limited.value.code, limited.value.retry_after))
        for missing in (
            lambda: aio.get_status("nope", runtime=rt),
            lambda: aio.cancel("0" * 32, runtime=rt),
            lambda: aio.resend("0" * 32, runtime=rt),
        ):
            with pytest.raises(worker.VerificationNotFound):
                await missing()
        unknown = await aio.verify_code("nope", "123456", runtime=rt)
        seen.append(unknown.reason)
        with pytest.raises(TypeError):
            await aio.verify_code("nope", 123456, runtime=rt)  # type: ignore[arg-type]
        return seen

    seen = on_loop(flow, base)
    assert seen[:3] == ["invalid_phone", "country_not_allowed", "invalid_ip"]
    code, wait = seen[3]
    assert code == "rate_limited" and wait is not None and 0 < wait <= 60
    assert seen[4] == "unknown"
    # Each refusal decided in Python was counted, as the thread API counts it.
    totals = raw_redis(base).hgetall(f"{base.settings.redis_prefix}totals")
    assert totals["refused:invalid_phone"] == "1"
    assert totals["refused:country_not_allowed"] == "1"


def test_resend_cancel_and_idempotency(base: Runtime, sms: InMemoryProvider) -> None:
    settings = base.settings.replace(OTP_RESEND_COOLDOWN_SECONDS=0)
    rt0 = Runtime(settings, base.store, task_queue=base.task_queue, sms_provider=sms)

    async def flow(rt: AsyncRuntime) -> list[Any]:
        first = await aio.request_code(PHONE, idempotency_key="form-1", runtime=rt)
        again = await aio.request_code(PHONE, idempotency_key="form-1", runtime=rt)
        await asyncio.to_thread(send_verification, rt0, first.id)
        old_code = sms.last_code(PHONE)
        resent = await aio.resend(first.id, runtime=rt)
        await asyncio.to_thread(send_verification, rt0, first.id)
        stale = await aio.verify_code(first.id, old_code, runtime=rt)
        canceled = await aio.cancel(first.id, runtime=rt)
        after = await aio.verify_code(first.id, sms.last_code(PHONE), runtime=rt)
        return [first, again, resent, stale, canceled, after]

    first, again, resent, stale, canceled, after = on_loop(flow, rt0)
    assert again.id == first.id and not again.created
    assert resent.created and resent.id == first.id
    assert not stale.ok
    assert canceled is True
    assert not after.ok and after.reason == "canceled"


def test_a_broker_that_is_down_gives_back_the_sms(base: Runtime) -> None:
    dead = base.settings.replace(CELERY_BROKER_URL=f"redis://127.0.0.1:{refused_port()}/0")
    rt0 = Runtime(dead, base.store, task_queue=celery_queue(dead))

    async def flow(rt: AsyncRuntime) -> str:
        with pytest.raises(aio.ServiceUnavailable) as info:
            await aio.request_code(PHONE, runtime=rt)
        return str(info.value)

    message = on_loop(flow, rt0)
    assert "broker" in message and PHONE not in message
    # Withdrawn: the phone's cooldown was given back, so the next request is admitted.
    req = on_loop(lambda rt: aio.request_code(PHONE, runtime=rt), base)
    assert req.created


def test_redis_away_is_service_unavailable(base: Runtime) -> None:
    away = base.settings.replace(REDIS_URL=f"redis://127.0.0.1:{refused_port()}/0")

    async def flow(rt: AsyncRuntime) -> str:
        with pytest.raises(aio.ServiceUnavailable) as info:
            await aio.get_status("0" * 32, runtime=rt)
        return str(info.value)

    assert "unavailable" in on_loop(flow, Runtime(away, base.store))


def test_the_captcha_is_checked_off_the_loop(redis_url: str) -> None:
    with StandIn() as provider:
        settings = make_settings(
            redis_url, CAPTCHA_MODE="always", CAPTCHA_PROVIDER="yandex",
            CAPTCHA_SECRET=SECRET, CAPTCHA_VERIFY_URL=provider.url("yandex"),
        )  # fmt: skip
        store = Store.from_url(settings.redis_url, settings.redis_prefix)
        base = Runtime(settings, store, task_queue=celery_queue(settings))

        async def flow(rt: AsyncRuntime) -> list[str]:
            codes = []
            for tok in (None, token("bad")):
                with pytest.raises(aio.RequestRefused) as info:
                    await aio.request_code(PHONE, captcha_token=tok, runtime=rt)
                codes.append(info.value.code)
            req = await aio.request_code(PHONE, captcha_token=token("good"), runtime=rt)
            codes.append(req.state)
            return codes

        assert on_loop(flow, base) == ["captcha_required", "captcha_failed", "queued"]
        base.close()


def test_without_a_runtime_each_loop_gets_its_own(redis_url: str) -> None:
    """The process-wide settings (conftest's process_runtime), one Redis client per loop."""

    async def one(phone: str) -> str:
        req = await aio.request_code(phone)
        return (await aio.get_status(req.id)).state

    assert asyncio.run(one("+79001112233")) == asyncio.run(one("+79001112244")) == "queued"
