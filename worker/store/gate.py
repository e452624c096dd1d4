"""The SMS gate's half of a step's KEYS and ARGV (``admit_sms`` in ``lua/common.lua``).

``create``, ``resend`` and ``abandon`` each pass one SMS through the gate (or give it back), so
the gate's keys and its JSON are built here once, in the order the Lua side reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from worker.core.gate import SmsGate
from worker.core.outcomes import RefusalCode
from worker.store.keys import STATS_TTL_MS, Keys
from worker.store.results import Refusal

__all__ = ["gate_arg", "gate_keys", "refusal"]


def gate_keys(keys: Keys, gate: SmsGate, stats_key: str) -> list[str]:
    """Deny set, prefix sends, prefix verifications, pumping flag, stats, totals, then one log
    per limit in the order of ``gate.limits``."""
    return [
        keys.deny,
        keys.pumping(gate.prefix_key, "s"),
        keys.pumping(gate.prefix_key, "v"),
        keys.pumping(gate.prefix_key, "flag"),
        stats_key,
        keys.totals,
        *(keys.limit_log(limit.name, limit.subject) for limit in gate.limits),
    ]


def gate_arg(gate: SmsGate, member: str) -> dict[str, Any]:
    """``member`` names this SMS in every log it is counted in (so ``abandon`` can take it out)."""
    return {
        "phone": gate.phone,
        "region": gate.region,
        "member": member,
        "limits": [
            {"name": li.name, "window_ms": li.window_ms, "limit": li.limit} for li in gate.limits
        ],
        "captcha_passed": gate.captcha_passed,
        "step_up": (
            {
                "ip_per_hour": gate.step_up.ip_per_hour,
                "prefix_per_hour": gate.step_up.prefix_per_hour,
            }
            if gate.step_up
            else False
        ),
        "pumping": {
            "refuse": gate.pumping.refuse,
            "window_ms": gate.pumping.window_ms,
            "min_sends": gate.pumping.min_sends,
            "min_conversion": gate.pumping.min_conversion,
            "cooloff_ms": gate.pumping.cooloff_ms,
        },
        "stats_ttl_ms": STATS_TTL_MS,
    }


def refusal(out: Mapping[str, Any]) -> Refusal:
    wait = out.get("retry_after_ms")
    return Refusal(RefusalCode(out["code"]), str(out["why"]), int(wait) if wait else None)
