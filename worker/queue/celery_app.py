"""The Celery application, configured for short, I/O-bound, must-not-be-lost tasks.

``celery_config`` is a function of ``Settings``; ``configure`` hands Celery a loader that reads
them the first time Celery needs its configuration, so importing ``worker`` never fails and a
worker with bad settings stops with one line listing every problem. The composition root
(``worker.runtime.celery_app``) is what calls ``configure``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from celery import Celery
from kombu.exceptions import OperationalError

from worker.core.endpoint import endpoint
from worker.core.secrets import flower_auth_problems
from worker.errors import QueueUnavailable, SettingsError
from worker.queue import kombu_redis, quorum
from worker.queue.broker import broker_url, transport_options
from worker.queue.names import POLL_QUEUE, POLL_TASK, SEND_QUEUE, SEND_TASK
from worker.settings import Settings

__all__ = ["CeleryQueue", "app", "celery_config", "configure"]

# Publishing retries stay short: the web request waiting on it should fail fast and clearly.
_PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.4}


def configure(celery: Celery, load_settings: Callable[[], Settings]) -> Celery:
    """Give ``celery`` its configuration, read from ``load_settings()`` when first needed.

    Also installs kombu's Redis transport with one fix under kombu's own name (see
    ``worker.queue.kombu_redis``), so Flower still sees a Redis broker. Idempotent.
    """
    if getattr(celery, "_targetsms_configured", False):
        return celery
    kombu_redis.install()
    quorum.install(celery)

    def load() -> dict[str, Any]:
        try:
            settings = load_settings()
        except SettingsError as exc:
            if not _in_celery_command():
                raise
            # A worker or Flower with bad settings: one line listing every problem, no traceback.
            sys.stderr.write(f"targetsms-worker: {exc}\n")
            raise SystemExit(78) from None
        return celery_config(settings)

    celery.add_defaults(load)
    celery._targetsms_configured = True  # type: ignore[attr-defined]
    return celery


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery's configuration for these settings: a plain function, testable without a broker."""
    flower_problems = _flower_auth_problems()
    if flower_problems:
        sys.stderr.write(f"targetsms-worker: {'; '.join(flower_problems)}\n")
        raise SystemExit(78)
    time_limit = int(settings.codes.send_deadline_seconds + settings.lock_ttl_seconds + 10)
    return {
        "broker_url": broker_url(settings),
        # Redis redelivers a message that is not acked within this time (its worker died): short,
        # so a lost send resumes within its deadline; longer than any countdown we set. Swept
        # every 5 s (kombu's default sweep is ~100 s).
        "broker_transport_options": transport_options(
            settings,
            {
                "visibility_timeout": settings.visibility_timeout,
                "unacked_restore_interval": 5,
                "unacked_restore_throttle": 1,
                "socket_timeout": 5,
                "socket_connect_timeout": 3,
                "health_check_interval": 25,
            },
        ),
        # A worker that dies mid-send must not lose the request: ack after the task, not before,
        # and requeue when a prefork child is killed. Our own send lock stops a second send.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # With late acks, a worker holds only what it can start now; the rest stays in the
        # broker for other workers (no head-of-line blocking behind a slow gateway).
        "worker_prefetch_multiplier": 1,
        # Task messages carry ids only; JSON keeps them readable and pickle out.
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        # Our state lives in our own Redis records: no result backend, nothing to leak there.
        "task_ignore_result": True,
        "task_store_errors_even_if_ignored": False,
        "result_backend": None,
        # Workers started before the broker keep trying instead of exiting.
        "broker_connection_retry_on_startup": True,
        "broker_connection_retry": True,
        # On broker loss, late-acked tasks are redelivered; cancel ours instead of finishing twice.
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        # Prefork enforces these; threads/gevent pools do not, so HTTP calls carry their own
        # connect/read timeouts and the send deadline caps the retries.
        "task_time_limit": time_limit + 30,
        "task_soft_time_limit": time_limit,
        "task_default_queue": SEND_QUEUE,
        "task_default_exchange": "targetsms",
        "task_default_routing_key": SEND_QUEUE,
        "task_queues": quorum.task_queues(settings.quorum_queues),
        # Sends are latency-sensitive, polls are not: separate queues so a poll backlog never
        # delays a code.
        "task_routes": {
            SEND_TASK: {"queue": SEND_QUEUE, "routing_key": SEND_QUEUE},
            POLL_TASK: {"queue": POLL_QUEUE, "routing_key": POLL_QUEUE},
        },
        "task_publish_retry": True,
        "task_publish_retry_policy": _PUBLISH_RETRY,
        # Task events cost a Redis publish per task state (12% of a worker's CPU, measured in
        # BENCHMARKS.md); Flower switches them on in the workers while it runs (its
        # --enable-events, on by default). Arguments are ids only either way.
        "worker_send_task_events": False,
        "task_send_sent_event": False,
    }


def _in_celery_command() -> bool:
    """True inside ``celery ...`` (worker, flower, inspect); False in a web app or our CLI."""
    return "celery" in Path(sys.argv[0]).parts or Path(sys.argv[0]).name == "celery"


def _flower_auth_problems() -> list[str]:
    """Why ``celery flower`` must not start: no login at all, or a guessable password.

    Task pages are not public; the password is read from the environment so that `ps` never
    shows it (a --basic-auth argument would, and is checked all the same). OAuth (``--auth``,
    FLOWER_AUTH) needs no password."""
    argv = sys.argv[1:]
    if not _in_celery_command() or "flower" not in argv:
        return []
    basic = [v for v in _option_values(argv, ("--basic-auth", "--basic_auth")) if v]
    if os.environ.get("FLOWER_BASIC_AUTH"):
        basic.append(os.environ["FLOWER_BASIC_AUTH"])
    if basic:
        return list(dict.fromkeys(p for value in basic for p in flower_auth_problems(value)))
    if os.environ.get("FLOWER_AUTH") or _option_values(argv, ("--auth",)):
        return []
    return ["Flower needs FLOWER_BASIC_AUTH=user:password in its environment"]


def _option_values(argv: list[str], names: tuple[str, ...]) -> list[str]:
    """The values given to the options ``names`` (``--name=value`` or ``--name value``)."""
    out = []
    for i, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if name in names:
            out.append(value if eq else (argv[i + 1] if i + 1 < len(argv) else ""))
    return out


# Built unconfigured: ``configure`` (called by the composition root) gives it its settings.
app = Celery("targetsms", include=["tasks.send", "tasks.poll"])


class CeleryQueue:
    """``TaskQueue`` on this Celery app: messages carry the verification id (or the poll
    marker) and nothing else."""

    def __init__(self, celery: Celery, *, max_countdown_seconds: float) -> None:
        self._app = celery
        # A countdown past the Redis visibility timeout would be redelivered: its owner (who
        # knows that timeout) says how long one hop may be.
        self._hop = max(1.0, max_countdown_seconds)
        self._errors: tuple[type[BaseException], ...] | None = None

    def _publish_errors(self) -> tuple[type[BaseException], ...]:
        """What "the broker did not take it" looks like for this broker's transport."""
        if self._errors is None:
            with self._app.connection_for_write() as conn:
                self._errors = (OperationalError, OSError, *conn.connection_errors)
        return self._errors

    def enqueue_send(self, verification_id: str) -> None:
        try:
            self._app.send_task(SEND_TASK, args=[verification_id])
        except self._publish_errors() as exc:
            where, what = endpoint(self._app.conf.broker_url or ""), type(exc).__name__
            raise QueueUnavailable(f"the broker at {where} is unavailable ({what})") from None

    def enqueue_poll(self, marker: str, delay_seconds: float) -> None:
        # A longer wait (a first poll minutes away with TARGETSMS_PUSH=1) hops, each hop a poll
        # task that finds nothing due.
        countdown = min(max(0.0, delay_seconds), self._hop)
        self._app.send_task(POLL_TASK, args=[marker], countdown=countdown)
