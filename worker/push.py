"""``from worker.push import wsgi_app, asgi_app``: the push receiver's apps, where the README
first documented them. They live in ``worker.web.push``."""

from worker.web.push import asgi_app, wsgi_app

__all__ = ["asgi_app", "wsgi_app"]
