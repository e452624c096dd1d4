"""The task-queue room: names without Celery, a configuration that is a function of Settings,
and a queue adapter that takes its hop from its owner, not from the process-wide runtime."""

from __future__ import annotations

from celery import Celery

from worker.queue.celery_app import CeleryQueue, celery_config, configure
from worker.queue.names import (
    POLL_QUEUE,
    POLL_TASK,
    SEND_QUEUE,
    SEND_TASK,
    WEBHOOK_QUEUE,
    WEBHOOK_TASK,
)
from worker.settings import Settings


def _settings(**overrides: object) -> Settings:
    return Settings().replace(REDIS_URL="redis://127.0.0.1:1/0", **overrides)


def test_the_config_is_a_function_of_the_settings_it_is_given() -> None:
    config = celery_config(_settings(CELERY_VISIBILITY_TIMEOUT=42))
    assert config["broker_url"] == "redis://127.0.0.1:1/0"
    assert config["broker_transport_options"]["visibility_timeout"] == 42
    assert config["task_routes"][SEND_TASK]["queue"] == SEND_QUEUE
    assert config["task_routes"][POLL_TASK]["queue"] == POLL_QUEUE
    assert config["task_routes"][WEBHOOK_TASK]["queue"] == WEBHOOK_QUEUE
    assert {q.name for q in config["task_queues"]} == {SEND_QUEUE, POLL_QUEUE, WEBHOOK_QUEUE}


def test_configure_reads_the_settings_only_when_celery_needs_them() -> None:
    reads: list[int] = []

    def load() -> Settings:
        reads.append(1)
        return _settings(CELERY_BROKER_URL="amqp://guest:guest@127.0.0.1:1//")

    celery = configure(Celery("t"), load)
    assert reads == []
    assert celery.conf.broker_url == "amqp://guest:guest@127.0.0.1:1//"
    assert configure(celery, load) is celery  # idempotent: one loader, read once
    assert len(reads) == 1


class _Recorder(Celery):  # type: ignore[misc]
    """A Celery app whose send_task records instead of publishing."""

    sent: list[tuple[str, list[str], float | None]]

    def send_task(self, name: str, args: list[str], countdown: float | None = None) -> None:
        self.sent.append((name, args, countdown))


def test_a_poll_countdown_hops_by_what_its_owner_says() -> None:
    app = _Recorder("t")
    app.sent = []
    queue = CeleryQueue(app, max_countdown_seconds=7)
    queue.enqueue_poll("m", 180)
    queue.enqueue_poll("m", 3)
    queue.enqueue_poll("m", -1)
    assert [c for _, _, c in app.sent] == [7, 3, 0]
    assert {name for name, _, _ in app.sent} == {POLL_TASK}
