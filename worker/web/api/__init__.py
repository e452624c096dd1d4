"""The HTTP API: every web stack gets the producer API's protections over JSON and a key.

``wsgi_app()`` mounts it; ``targetsms api`` serves it (``serve``); ``openapi.json`` beside
this file is the committed OpenAPI 3.1 document it serves at ``GET /openapi.json``.
"""

from worker.web.api.app import DEFAULT_PORT, ApiWSGIApp, serve, wsgi_app
from worker.web.api.routes import OPENAPI, ApiRequest, VerificationsApi

__all__ = [
    "DEFAULT_PORT",
    "OPENAPI",
    "ApiRequest",
    "ApiWSGIApp",
    "VerificationsApi",
    "serve",
    "wsgi_app",
]
