"""The Redis key layout: the only place that names a key.

On a Redis Cluster every key is ``<prefix>{<prefix>}<name>``: the braces are a hash tag, so
all of the store's keys hash to one slot and every Lua step (which names its keys in ``KEYS``)
runs on one node. On one server or behind Sentinel the keys are ``<prefix><name>``, as they
always were, so an upgrade there renames nothing. Why one slot rather than one per
verification: README, "Redis Cluster".
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["STATS_BUCKET_SECONDS", "STATS_TTL_MS", "Keys"]

#: ``targetsms stats`` counts in five-minute buckets kept a day and an hour.
STATS_BUCKET_SECONDS = 300
STATS_TTL_MS = (24 * 3600 + 3600) * 1000


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str
    cluster: bool = False  # a Redis Cluster: every key carries the store's hash tag

    @property
    def at(self) -> str:
        """The start of every key name: the prefix, then (on a cluster) the store's hash tag."""
        if not self.cluster:
            return self.prefix
        return f"{self.prefix}{{{self.prefix or 'targetsms'}}}"

    def record(self, verification_id: str) -> str:
        return f"{self.at}v:{verification_id}"

    def history(self, verification_id: str) -> str:
        return f"{self.at}v:{verification_id}:h"

    def lock(self, verification_id: str) -> str:
        return f"{self.at}lock:{verification_id}"

    def idempotency(self, digest: str) -> str:
        return f"{self.at}idem:{digest}"

    def proof(self, proof_id: str) -> str:
        """A one-time proof that a browser verified a verification (the FastAPI router's)."""
        return f"{self.at}proof:{proof_id}"

    def sms(self, id_sms: str) -> str:
        """Which verification a gateway message id belongs to (pushes name only the id_sms)."""
        return f"{self.at}sms:{id_sms}"

    def limit_log(self, name: str, subject: str) -> str:
        return f"{self.at}rl:{name}:{subject}"

    def guess_log(self, phone_key: str, requester: str) -> str:
        """Wrong codes for a phone on verifications requested from one IP ('-': none given)."""
        return f"{self.at}rl:verify_phone:{phone_key}:{requester or '-'}"

    def verifier_log(self, ip_key: str) -> str:
        return f"{self.at}rl:verify_ip:{ip_key}"

    def pumping(self, prefix_key: str, kind: str) -> str:
        """kind: s (sends), v (verifications), flag (suspected)."""
        return f"{self.at}pf:{prefix_key}:{kind}"

    def stats(self, slot: int) -> str:
        return f"{self.at}st:{slot}"

    def stats_at(self, now: float) -> str:
        """The statistics bucket that holds the moment ``now`` (Unix seconds)."""
        return self.stats(int(now // STATS_BUCKET_SECONDS))

    @property
    def totals(self) -> str:
        """All-time counters for the metrics exporter: they only grow, so no TTL."""
        return f"{self.at}totals"

    @property
    def balance(self) -> str:
        """The exporter's cached account balance (refreshed at most once a minute)."""
        return f"{self.at}metrics:balance"

    @property
    def balance_lock(self) -> str:
        return f"{self.at}metrics:balance:lock"

    @property
    def deny(self) -> str:
        """The operator's deny list: configuration, so no TTL."""
        return f"{self.at}deny"

    @property
    def poll(self) -> str:
        return f"{self.at}poll"

    @property
    def pending_sends(self) -> str:
        """Sends whose task message may be lost: verification id -> when the sweep may
        enqueue it again (ms)."""
        return f"{self.at}sends:pending"

    @property
    def sends_published(self) -> str:
        """How many send messages were published (a counter): a record's ``send_seq`` is its
        latest message's number, so the sweep knows how many went to the queue after it."""
        return f"{self.at}sends:published"

    @property
    def poll_marker(self) -> str:
        return f"{self.at}poll:next"

    @property
    def events(self) -> str:
        """A Pub/Sub channel, not a key: no slot, so no tag (subscribers keep its name)."""
        return f"{self.prefix}events"

    def api_key(self, name: str) -> str:
        """One site's API key (its digest, limits, webhook): configuration, so no TTL."""
        return f"{self.at}ak:{name}"

    def api_key_digest(self, digest: str) -> str:
        """Which key name a key digest belongs to (the bearer lookup)."""
        return f"{self.at}akd:{digest}"

    @property
    def api_key_names(self) -> str:
        return f"{self.at}aks"

    @property
    def webhook_stream(self) -> str:
        """Events of verifications made through the API, for webhook delivery (capped)."""
        return f"{self.at}events:hooks"

    @property
    def webhook_relays(self) -> str:
        """When each webhook relay last said it was running (a sorted set by time)."""
        return f"{self.at}events:hooks:relays"

    @property
    def unused(self) -> str:
        """Stands in KEYS where a script's optional key does not apply (never written)."""
        return f"{self.at}unused"
