"""The Redis key layout: the only place that names a key."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["STATS_BUCKET_SECONDS", "STATS_TTL_MS", "Keys"]

#: ``targetsms stats`` counts in five-minute buckets kept a day and an hour.
STATS_BUCKET_SECONDS = 300
STATS_TTL_MS = (24 * 3600 + 3600) * 1000


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str

    def record(self, verification_id: str) -> str:
        return f"{self.prefix}v:{verification_id}"

    def history(self, verification_id: str) -> str:
        return f"{self.prefix}v:{verification_id}:h"

    def lock(self, verification_id: str) -> str:
        return f"{self.prefix}lock:{verification_id}"

    def idempotency(self, digest: str) -> str:
        return f"{self.prefix}idem:{digest}"

    def proof(self, proof_id: str) -> str:
        """A one-time proof that a browser verified a verification (the FastAPI router's)."""
        return f"{self.prefix}proof:{proof_id}"

    def sms(self, id_sms: str) -> str:
        """Which verification a gateway message id belongs to (pushes name only the id_sms)."""
        return f"{self.prefix}sms:{id_sms}"

    def limit_log(self, name: str, subject: str) -> str:
        return f"{self.prefix}rl:{name}:{subject}"

    def guess_log(self, phone_key: str, requester: str) -> str:
        """Wrong codes for a phone on verifications requested from one IP ('-': none given)."""
        return f"{self.prefix}rl:verify_phone:{phone_key}:{requester or '-'}"

    def verifier_log(self, ip_key: str) -> str:
        return f"{self.prefix}rl:verify_ip:{ip_key}"

    def pumping(self, prefix_key: str, kind: str) -> str:
        """kind: s (sends), v (verifications), flag (suspected)."""
        return f"{self.prefix}pf:{prefix_key}:{kind}"

    def stats(self, slot: int) -> str:
        return f"{self.prefix}st:{slot}"

    def stats_at(self, now: float) -> str:
        """The statistics bucket that holds the moment ``now`` (Unix seconds)."""
        return self.stats(int(now // STATS_BUCKET_SECONDS))

    @property
    def totals(self) -> str:
        """All-time counters for the metrics exporter: they only grow, so no TTL."""
        return f"{self.prefix}totals"

    @property
    def balance(self) -> str:
        """The exporter's cached account balance (refreshed at most once a minute)."""
        return f"{self.prefix}metrics:balance"

    @property
    def balance_lock(self) -> str:
        return f"{self.prefix}metrics:balance:lock"

    @property
    def deny(self) -> str:
        """The operator's deny list: configuration, so no TTL."""
        return f"{self.prefix}deny"

    @property
    def poll(self) -> str:
        return f"{self.prefix}poll"

    @property
    def poll_marker(self) -> str:
        return f"{self.prefix}poll:next"

    @property
    def events(self) -> str:
        return f"{self.prefix}events"

    def api_key(self, name: str) -> str:
        """One site's API key (its digest, limits, webhook): configuration, so no TTL."""
        return f"{self.prefix}ak:{name}"

    def api_key_digest(self, digest: str) -> str:
        """Which key name a key digest belongs to (the bearer lookup)."""
        return f"{self.prefix}akd:{digest}"

    @property
    def api_key_names(self) -> str:
        return f"{self.prefix}aks"

    @property
    def webhook_stream(self) -> str:
        """Events of verifications made through the API, for webhook delivery (capped)."""
        return f"{self.prefix}events:hooks"

    @property
    def unused(self) -> str:
        """Stands in KEYS where a script's optional key does not apply (never written)."""
        return f"{self.prefix}unused"
