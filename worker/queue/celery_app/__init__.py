"""The Celery application, configured for short, I/O-bound, must-not-be-lost tasks.

``celery_config`` is a function of ``Settings``; ``configure`` hands Celery a loader that reads
them the first time Celery needs its configuration, so importing ``worker`` never fails and a
worker with bad settings stops with one line listing every problem. The composition root
(``worker.runtime.celery_app``) is what calls ``configure``.

- ``config``: ``celery_config(settings)``, the configuration itself;
- ``flower_guard``: which ``celery`` command runs, and Flower refused without a login;
- ``application``: the app object and ``configure``;
- ``task_queue``: ``CeleryQueue``, the ``TaskQueue`` the producer and the worker publish with.
"""

from worker.queue.celery_app.application import app, configure
from worker.queue.celery_app.config import celery_config
from worker.queue.celery_app.task_queue import CeleryQueue

__all__ = ["CeleryQueue", "app", "celery_config", "configure"]
