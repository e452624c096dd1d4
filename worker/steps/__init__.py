"""The worker's plain steps behind the Celery tasks: send one, poll the due."""
