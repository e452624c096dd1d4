"""The composition root: settings, the store, the task queue, the SMS provider and captcha.

The only module that names the concrete adapters (Redis, Celery, TargetSMS, the captcha
providers); everything else takes a ``Runtime`` and sees their interfaces.

Plain functions take a ``Runtime`` so tests and benchmarks can build their own; the Celery
tasks and the producer API use the process-wide one, created lazily from the environment.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from worker.providers.base import SmsProvider
from worker.queue.base import TaskQueue
from worker.settings import RETRY_MAX_DELAY, Settings
from worker.store import Store, Topology
from worker.store.aio import AsyncStore
from worker.store.connection import MAX_CONNECTIONS

if TYPE_CHECKING:
    from celery import Celery

    from worker.captcha import CaptchaVerifier
    from worker.http.transport import Timeout, Transport
    from worker.providers.retry import RetryPolicy

__all__ = ["AsyncRuntime", "Runtime", "celery_app", "get_runtime", "set_runtime", "store_topology"]


def store_topology(settings: Settings) -> Topology:
    """Where the store is: one server, a master followed through Sentinel, or a cluster."""
    return Topology.of(
        settings.redis_url,
        sentinels=settings.redis_sentinels,
        master=settings.redis_sentinel_master,
        cluster=settings.redis_cluster,
    )


@dataclass
class Runtime:
    settings: Settings
    store: Store
    transport: Transport | None = None
    task_queue: TaskQueue | None = field(default=None, repr=False)
    sms_provider: SmsProvider | None = field(default=None, repr=False)
    _captcha: CaptchaVerifier | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        transport: Transport | None = None,
        queue: TaskQueue | None = None,
        provider: SmsProvider | None = None,
    ) -> Runtime:
        store = Store.from_url(
            settings.redis_url, settings.redis_prefix, topology=store_topology(settings)
        )
        return cls(settings, store, transport, queue, provider)

    @property
    def queue(self) -> TaskQueue:
        """Where sends and polls are queued: the Celery app unless one was given."""
        if self.task_queue is None:
            from worker.queue.celery_app import CeleryQueue

            # Countdowns stay 5 s inside this runtime's own visibility timeout.
            hop = self.settings.visibility_timeout - 5.0
            self.task_queue = CeleryQueue(celery_app(), max_countdown_seconds=hop)
        return self.task_queue

    @property
    def secret(self) -> bytes:
        return self.settings.secret

    @property
    def pseudonym_secret(self) -> bytes:
        return self.settings.pseudonym_secret

    @property
    def timeout(self) -> Timeout:
        from worker.http.transport import Timeout

        s = self.settings
        return Timeout(connect=s.gateway.connect_timeout, read=s.gateway.read_timeout)

    @property
    def retry_policy(self) -> RetryPolicy:
        from worker.providers.retry import RetryPolicy

        return RetryPolicy(
            max_attempts=self.settings.codes.send_max_attempts,
            max_delay=RETRY_MAX_DELAY,
        )

    @property
    def provider(self) -> SmsProvider:
        """TargetSMS unless one was given; built on first use: producers never talk to the
        provider, need no pool for it, and import none of its HTTP and XML stack."""
        if self.sms_provider is None:
            from worker.http.transport import RequestsTransport
            from worker.providers.targetsms.client import TargetSMSClient

            with self._lock:
                if self.sms_provider is None:
                    s = self.settings
                    self.sms_provider = TargetSMSClient(
                        login=s.gateway.login,
                        password=s.gateway.password,
                        sender=s.gateway.sender,
                        service_name=s.codes.service_name,
                        send_url=s.gateway.url,
                        state_url=s.gateway.state_url,
                        transport=self.transport or RequestsTransport(pool_size=128),
                        timeout=self.timeout,
                        allow_http=s.gateway.allow_http,
                        observer=self.store.observe_gateway,
                        duplicate_window_seconds=s.gateway.duplicate_window_seconds,
                    )
        return self.sms_provider

    @property
    def captcha(self) -> CaptchaVerifier:
        """The configured captcha provider (only used when CAPTCHA_MODE is not off)."""
        if self._captcha is None:
            from worker.captcha import make_verifier

            s = self.settings
            self._captcha = make_verifier(
                s.captcha.provider,
                s.captcha.secret,
                verify_url=s.captcha.verify_url or None,
                timeout=s.captcha.timeout_seconds,
                min_score=s.captcha.min_score,
                fail_open=s.captcha.fail_open,
            )
        return self._captcha

    def close(self) -> None:
        if self.sms_provider is not None:
            self.sms_provider.close()
        self.store.close()


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def get_runtime() -> Runtime:
    """The process-wide runtime; raises ``SettingsError`` listing every bad setting."""
    global _runtime
    if _runtime is None:
        with _runtime_lock:
            if _runtime is None:
                _runtime = Runtime.from_settings(Settings.from_env())
    return _runtime


def set_runtime(runtime: Runtime | None) -> None:
    """Replace (or with None, forget) the process-wide runtime."""
    global _runtime
    with _runtime_lock:
        _runtime = runtime


def celery_app() -> Celery:
    """The Celery app, configured from the process-wide settings when Celery first reads them.

    Imported only here and by the tasks, so a web app that queues through a ``Runtime`` of its
    own, the exporter and the CLI never build a Celery configuration they do not use.
    """
    from worker.queue.celery_app import app, configure

    return configure(app, lambda: get_runtime().settings)


@dataclass
class AsyncRuntime:
    """What the asyncio producer API (``worker.aio``) runs on: a ``Runtime`` for the settings,
    the captcha and the task queue, an ``AsyncStore`` of one event loop, and a bounded pool for
    the calls that block (publishing to the broker, a captcha check), so none runs on the loop
    and a burst queues for a thread instead of starting a thousand."""

    base: Runtime
    store: AsyncStore
    executor: ThreadPoolExecutor = field(repr=False)
    #: Store calls in flight at once: no more than the pool has connections, so a burst waits
    #: here, where no timer runs, and not for a pooled connection under the pool's 5 s timeout
    #: (a starved loop overran it on a cold pool: bench/aio.py).
    store_slots: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(MAX_CONNECTIONS), repr=False
    )

    @classmethod
    def from_runtime(
        cls, base: Runtime, *, executor: ThreadPoolExecutor | None = None, blocking_threads: int = 8
    ) -> AsyncRuntime:
        s = base.settings
        pool = executor or ThreadPoolExecutor(blocking_threads, thread_name_prefix="targetsms-aio")
        store = AsyncStore.from_url(s.redis_url, s.redis_prefix, topology=store_topology(s))
        return cls(base, store, pool)

    async def aclose(self, *, shutdown_executor: bool = True) -> None:
        await self.store.aclose()
        if shutdown_executor:
            self.executor.shutdown(wait=False)
