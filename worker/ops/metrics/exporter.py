"""``targetsms metrics``'s server: ``GET /metrics`` for one collector, on waitress."""

from __future__ import annotations

import logging
import threading

from prometheus_client import make_wsgi_app
from prometheus_client.registry import CollectorRegistry

from worker.ops.metrics.collector import TargetSMSCollector
from worker.runtime import Runtime

__all__ = ["serve"]

log = logging.getLogger("targetsms.metrics")


def serve(runtime: Runtime, host: str, port: int, *, stop: threading.Event | None = None) -> None:
    """Serve ``GET /metrics`` until ``stop`` is set (or forever), within ``METRICS_LIMITS``
    (worker/web/serving.py). Raises OSError when the address is taken."""
    from worker.web.serving import METRICS_LIMITS
    from worker.web.serving import serve as bind

    registry = CollectorRegistry()
    registry.register(TargetSMSCollector(runtime))
    server = bind(make_wsgi_app(registry), host, port, METRICS_LIMITS, name="metrics")
    log.info("metrics on %s/metrics", server.url)
    server.run((stop or threading.Event()).is_set)
