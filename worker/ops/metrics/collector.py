"""``TargetSMSCollector``: one scrape, read from each source (Redis, the gateway, the broker)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from worker.ops.metrics.balance import BALANCE_INTERVAL, BalanceCache
from worker.ops.metrics.families import Families
from worker.ops.metrics.queues import collect_queues
from worker.ops.metrics.totals import collect_totals
from worker.queue.broker import broker_url, transport_options
from worker.queue.names import POLL_QUEUE, SEND_QUEUE, WEBHOOK_QUEUE
from worker.runtime import Runtime

__all__ = ["TargetSMSCollector"]


class TargetSMSCollector(Collector):
    """Reads the deployment's state on each scrape; ``clock`` is injectable for tests."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        queues: Sequence[str] = (SEND_QUEUE, POLL_QUEUE, WEBHOOK_QUEUE),
        balance_interval: float = BALANCE_INTERVAL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rt = runtime
        self.queues = tuple(queues)
        self.balance = BalanceCache(runtime, interval=balance_interval, clock=clock)

    def describe(self) -> Iterable[Metric]:
        return Families.new().all()

    def collect(self) -> Iterator[Metric]:
        f = Families.new()
        f.balance_alert_below.add_metric([], self.rt.settings.balance_alert_below)
        redis_up = collect_totals(f, self.rt.store)
        f.up.add_metric(["redis"], float(redis_up))
        if redis_up:
            self.balance.collect(f)
        s = self.rt.settings
        collect_queues(f, broker_url(s), self.queues, transport_options(s))
        yield from f.all()
