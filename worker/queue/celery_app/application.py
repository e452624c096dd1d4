"""The Celery app object, and ``configure``: its settings, read when Celery first needs them."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from celery import Celery
from celery.signals import after_setup_logger

from worker.errors import SettingsError
from worker.queue import kombu_redis, quorum
from worker.queue.celery_app.config import celery_config
from worker.queue.celery_app.flower_guard import in_celery_command, refuse_flower_without_login
from worker.settings import Settings

__all__ = ["PER_TASK_LOGGERS", "app", "configure"]


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
            if not in_celery_command():
                raise
            # A worker or Flower with bad settings: one line listing every problem, no traceback.
            sys.stderr.write(f"targetsms-worker: {exc}\n")
            raise SystemExit(78) from None
        refuse_flower_without_login()
        return celery_config(settings)

    celery.add_defaults(load)
    celery._targetsms_configured = True  # type: ignore[attr-defined]
    return celery


#: Celery's two lines per task at INFO ("Task ... received", "Task ... succeeded in 0.2s"), and
#: its INFO line for an expected failure. A send already logs its own line ("sent <id> ...",
#: or why it did not send), and these cost about 3% of a worker's CPU (BENCHMARKS.md). A
#: worker started with ``--loglevel DEBUG`` still writes them.
PER_TASK_LOGGERS = ("celery.app.trace", "celery.worker.strategy")


@after_setup_logger.connect(weak=False)
def _per_task_lines_at_debug_only(loglevel: int | str | None = None, **_: Any) -> None:
    level = logging.getLevelName(loglevel) if isinstance(loglevel, str) else loglevel
    if isinstance(level, int) and level > logging.DEBUG:
        for name in PER_TASK_LOGGERS:
            logging.getLogger(name).setLevel(max(level, logging.WARNING))


# Built unconfigured: ``configure`` (called by the composition root) gives it its settings.
app = Celery("targetsms", include=["tasks.send", "tasks.poll", "tasks.webhooks"])
