"""Celery tasks: thin wrappers that call the plain functions in ``worker``."""
