"""The operator's deny list: number prefixes no SMS goes to (``admit_sms`` checks it).

It is configuration, not traffic, so it has no TTL and changes only through ``targetsms deny``.
"""

from __future__ import annotations

from worker.store.core import StoreCore, guarded

__all__ = ["DenyList"]


class DenyList(StoreCore):
    @guarded
    def deny_list(self) -> list[str]:
        return sorted(str(m) for m in self._redis.smembers(self.keys.deny))

    @guarded
    def deny_add(self, prefix: str) -> None:
        self._redis.sadd(self.keys.deny, prefix)

    @guarded
    def deny_remove(self, prefix: str) -> bool:
        """False when the prefix was not on the list."""
        return bool(self._redis.srem(self.keys.deny, prefix))
