"""The policy every SMS is held to: which limits it counts against, step-up and pumping rules.

Each SMS costs money and an attacker pays nothing, so every send -- a first request or a resend
-- passes one gate (``SmsGate``), checked and counted atomically with the write that spends it
(``admit_sms`` in ``store/lua/common.lua``). Adding a limit means one line in ``sms_limits``;
the script reads the list as it comes. Subjects are keyed digests, never the number or the IP.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from worker.core.codes import pseudonym
from worker.settings import Settings

__all__ = [
    "DAY_MS",
    "HOUR_MS",
    "Limit",
    "PumpingPolicy",
    "SmsGate",
    "StepUp",
    "ip_subject",
    "sms_gate",
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


def sms_limits(
    settings: Settings, *, phone_key: str, prefix_key: str, ip_key: str | None
) -> tuple[Limit, ...]:
    """The windows one SMS counts against; a limit of 0 is off."""
    lim, cooldown = settings.limits, settings.codes.resend_cooldown_seconds
    candidates = [
        Limit("phone_cooldown", phone_key, cooldown * 1000, 1),
        Limit("phone_hour", phone_key, HOUR_MS, lim.phone_max_per_hour),
        Limit("phone_day", phone_key, DAY_MS, lim.phone_max_per_day),
        Limit("prefix_hour", prefix_key, HOUR_MS, lim.prefix_max_per_hour),
        Limit("global_hour", "all", HOUR_MS, lim.max_sms_per_hour),
        Limit("global_day", "all", DAY_MS, lim.max_sms_per_day),
    ]
    if ip_key is not None:
        candidates += [
            Limit("ip_hour", ip_key, HOUR_MS, lim.ip_max_per_hour),
            Limit("ip_day", ip_key, DAY_MS, lim.ip_max_per_day),
        ]
    return tuple(c for c in candidates if c.limit > 0 and c.window_ms > 0)


def sms_gate(
    settings: Settings,
    *,
    phone: str,
    region: str,
    ip: str | None,
    captcha_passed: bool,
) -> SmsGate:
    """The gate for one SMS to ``phone`` (E.164) requested from ``ip`` (an ``ip_subject``)."""
    secret = settings.pseudonym_secret
    phone_key = pseudonym(secret, "phone", phone)
    prefix_key = pseudonym(secret, "prefix", phone[:-4])
    ip_key = pseudonym(secret, "ip", ip) if ip is not None else None
    a = settings.abuse
    return SmsGate(
        phone=phone,
        region=region,
        phone_key=phone_key,
        prefix_key=prefix_key,
        ip_key=ip_key,
        limits=sms_limits(settings, phone_key=phone_key, prefix_key=prefix_key, ip_key=ip_key),
        captcha_passed=captcha_passed,
        step_up=(
            StepUp(a.step_up_ip_per_hour, a.step_up_prefix_per_hour)
            if settings.captcha.mode == "step_up"
            else None
        ),
        pumping=PumpingPolicy(
            # Without a captcha to ask for, a suspected pumping prefix can only be refused.
            refuse=a.pumping_action == "refuse" or settings.captcha.mode == "off",
            window_ms=a.pumping_window_seconds * 1000,
            min_sends=a.pumping_min_sends,
            min_conversion=a.pumping_min_conversion,
            cooloff_ms=a.pumping_cooloff_seconds * 1000,
        ),
    )
