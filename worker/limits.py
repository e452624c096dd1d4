"""Which sliding-window limits a send counts against.

Each SMS costs money and an attacker pays nothing, so every send -- a first request or a resend
-- is checked against per-phone, per-IP, per-number-prefix and global windows, atomically with
the write that spends it (see ``lua/create.lua``). Subjects are keyed by keyed digests, never
by the phone number or the IP itself.
"""

from __future__ import annotations

import ipaddress

from .codes import pseudonym
from .settings import Settings
from .store import Bucket, Keys

__all__ = ["HOUR_MS", "ip_subject", "send_buckets"]

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def ip_subject(client_ip: str) -> str:
    """The unit an IP is counted by: the address, or its /64 for IPv6 (one subscriber's LAN)."""
    address = ipaddress.ip_address(client_ip.strip())
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def send_buckets(
    settings: Settings,
    keys: Keys,
    secret: bytes,
    *,
    phone_digest: str,
    prefix_digest: str,
    ip: str | None = None,
) -> list[Bucket]:
    """The buckets one SMS counts against, for the phone and prefix behind these digests."""
    s = settings
    candidates: list[tuple[str, str | None, int, int]] = [
        ("phone_cooldown", phone_digest, s.codes.resend_cooldown_seconds * 1000, 1),
        ("phone_hour", phone_digest, HOUR_MS, s.limits.phone_max_per_hour),
        ("phone_day", phone_digest, DAY_MS, s.limits.phone_max_per_day),
        ("prefix_hour", prefix_digest, HOUR_MS, s.limits.prefix_max_per_hour),
        ("global_hour", "all", HOUR_MS, s.limits.max_sms_per_hour),
        ("global_day", "all", DAY_MS, s.limits.max_sms_per_day),
    ]
    if ip is not None:
        ip_digest = pseudonym(secret, "ip", ip)
        candidates += [
            ("ip_hour", ip_digest, HOUR_MS, s.limits.ip_max_per_hour),
            ("ip_day", ip_digest, DAY_MS, s.limits.ip_max_per_day),
        ]
    return [
        Bucket(keys.bucket(name, subject), window, limit, name)
        for name, subject, window, limit in candidates
        if subject and limit > 0 and window > 0
    ]
