"""The gateway source: the account balance, cached in Redis and shared by every exporter."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from worker.errors import GatewayError
from worker.ops.metrics.families import Families
from worker.ops.metrics.values import stored_float
from worker.runtime import Runtime
from worker.store import StoreUnavailable

__all__ = ["BALANCE_INTERVAL", "BALANCE_MAX_AGE", "BalanceCache"]

log = logging.getLogger("targetsms.metrics")

# The gateway's balance.php is asked at most this often, however many exporters share a Redis.
BALANCE_INTERVAL = 60.0
# A balance older than this (the gateway keeps failing) is no longer exported.
BALANCE_MAX_AGE = 600.0
# A scrape must answer well within Prometheus's default 10 s scrape timeout.
_GATEWAY_TIME_LEFT = 3.0


class BalanceCache:
    """The cached balance; refreshed by whichever exporter first finds the refresh due (a lock
    with the interval as its TTL, never released early), so balance.php is called at most once
    per interval across every exporter on this Redis, failures included."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        interval: float,
        clock: Callable[[], float],
    ) -> None:
        self.rt = runtime
        self.interval = interval
        self.clock = clock

    def collect(self, f: Families) -> None:
        """Fill the balance gauge and ``targetsms_up{component="gateway"}``."""
        store = self.rt.store
        try:
            if store.balance_refresh_due(max(1, int(self.interval * 1000))):
                store.cache_balance(self._ask())
            cached = store.cached_balance()
        except StoreUnavailable:
            return
        if "ok" in cached:
            f.up.add_metric(["gateway"], stored_float(cached["ok"]))
        money, at = cached.get("money"), stored_float(cached.get("at"))
        if money is not None and self.clock() - at <= BALANCE_MAX_AGE:
            f.balance.add_metric([], stored_float(money))

    def _ask(self) -> dict[str, str]:
        try:
            balance = self.rt.provider.balance(time_left=_GATEWAY_TIME_LEFT)
        except GatewayError as exc:
            log.warning("metrics: balance unavailable (%s)", exc.code)
            return {"ok": "0"}
        money = float(balance.money)
        fields = {"ok": "1"}
        if math.isfinite(money):
            fields.update(money=repr(money), currency=balance.currency, at=repr(self.clock()))
        return fields
