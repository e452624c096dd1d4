"""The policy every SMS is held to: which limits it counts against, step-up and pumping rules.

Each SMS costs money and an attacker pays nothing, so every send -- a first request or a resend
-- passes one gate (``SmsGate``), checked and counted atomically with the write that spends it
(``admit_sms`` in ``store/lua/common.lua``). Adding a limit means one line in
``worker.api.gate.sms_limits``; the script reads the list as it comes. Subjects are keyed digests,
never the number or the IP.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

__all__ = [
    "DAY_MS",
    "HOUR_MS",
    "Limit",
    "PumpingPolicy",
    "SmsGate",
    "StepUp",
    "ip_subject",
]

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``limit`` SMS per ``window_ms`` for one subject (a keyed digest, or "all")."""

    name: str
    subject: str
    window_ms: int
    limit: int


@dataclass(frozen=True, slots=True)
class StepUp:
    """Ask for a captcha once an IP or a number prefix sends this many SMS in an hour."""

    ip_per_hour: int
    prefix_per_hour: int


@dataclass(frozen=True, slots=True)
class PumpingPolicy:
    """A prefix whose SMS do not verify is suspected of pumping for ``cooloff_ms``."""

    refuse: bool  # refuse outright instead of asking for a captcha
    window_ms: int
    min_sends: int
    min_conversion: float
    cooloff_ms: int


@dataclass(frozen=True, slots=True)
class SmsGate:
    """Everything one SMS is checked against and counted in."""

    phone: str  # E.164: the deny list matches its prefixes
    region: str
    phone_key: str
    prefix_key: str
    ip_key: str | None  # the requesting IP's digest: wrong codes are counted per phone and it
    limits: tuple[Limit, ...]
    captcha_passed: bool
    step_up: StepUp | None
    pumping: PumpingPolicy


def ip_subject(client_ip: str) -> str:
    """The unit an IP is counted by: the address, or its /64 for IPv6 (one subscriber's LAN)."""
    address = ipaddress.ip_address(client_ip.strip())
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
