"""``targetsms metrics``: one Prometheus exporter for the whole deployment.

Producers and workers run as many processes on many machines, so no process's memory holds the
totals: the Lua steps count into one Redis hash (``Store.totals``), and this exporter reads that
hash, the broker's queues and the (cached) account balance on every scrape. Anything that is
down is reported through ``targetsms_up{component}`` and left out; a scrape never fails.

- ``families``: every metric served; ``values``: numbers read back from Redis;
- one module per source: ``totals`` (Redis), ``balance`` (the gateway, cached), ``queues``
  (the broker);
- ``collector``: one scrape from every source; ``exporter``: the HTTP server.
"""

from worker.ops.metrics.balance import BALANCE_INTERVAL
from worker.ops.metrics.collector import TargetSMSCollector
from worker.ops.metrics.exporter import serve
from worker.ops.metrics.families import metric_names
from worker.ops.metrics.queues import queue_depths
from worker.ops.metrics.totals import GATEWAY_ENDPOINTS

__all__ = [
    "BALANCE_INTERVAL",
    "GATEWAY_ENDPOINTS",
    "TargetSMSCollector",
    "metric_names",
    "queue_depths",
    "serve",
]
