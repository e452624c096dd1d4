"""The gate of one SMS, built from the settings: which windows it counts in, step-up, pumping."""

from __future__ import annotations

from worker.core.api_keys import ApiKey
from worker.core.codes import pseudonym
from worker.core.gate import DAY_MS, HOUR_MS, Limit, PumpingPolicy, SmsGate, StepUp
from worker.settings import Settings

__all__ = ["sms_gate", "sms_limits"]


def sms_limits(
    settings: Settings,
    *,
    phone_key: str,
    prefix_key: str,
    ip_key: str | None,
    site: ApiKey | None = None,
) -> tuple[Limit, ...]:
    """The windows one SMS counts against; a limit of 0 is off. ``site``: the API key it is
    sent for, whose own budget keeps one site's leaked key off every other site's."""
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
    if site is not None:
        candidates += [
            Limit("site_hour", site.name, HOUR_MS, site.per_hour),
            Limit("site_day", site.name, DAY_MS, site.per_day),
        ]
    return tuple(c for c in candidates if c.limit > 0 and c.window_ms > 0)


def sms_gate(
    settings: Settings,
    *,
    phone: str,
    region: str,
    ip: str | None,
    captcha_passed: bool,
    site: ApiKey | None = None,
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
        limits=sms_limits(
            settings, phone_key=phone_key, prefix_key=prefix_key, ip_key=ip_key, site=site
        ),
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
