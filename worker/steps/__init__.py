"""The worker's plain steps behind the Celery tasks: send one verification, poll due statuses."""
