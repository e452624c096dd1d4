"""``targetsms check``: is this deployment able to send? A plain report, one line per part."""

from __future__ import annotations

from typing import TextIO

from kombu import Connection

from .gateway import GatewayError
from .gateway.validation import CODE_PLACEHOLDER, sms_parts
from .runtime import Runtime
from .settings import Settings, SettingsError
from .store import UNAVAILABLE

__all__ = ["run_checks"]


def run_checks(out: TextIO) -> int:
    failed = 0

    def line(ok: bool, part: str, detail: str) -> None:
        nonlocal failed
        failed += 0 if ok else 1
        out.write(f"{'ok  ' if ok else 'FAIL'} {part:<9} {detail}\n")

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        for problem in exc.problems:
            line(False, "settings", problem)
        return 1
    line(
        True, "settings", f"sender {settings.gateway.sender}, service {settings.codes.service_name}"
    )
    codes = settings.codes
    parts = sms_parts(codes.message_text.replace(CODE_PLACEHOLDER, "0" * codes.length))
    line(
        True, "text", f"{parts} SMS part{'s' if parts > 1 else ''} with a {codes.length}-digit code"
    )
    if settings.captcha.mode == "off":
        out.write(
            "note     captcha is off here: make sure your form checks one (the guide requires it)\n"
        )
    rt = Runtime.from_settings(settings)
    try:
        info = rt.store.redis.info("server")
        line(True, "redis", f"Redis {info.get('redis_version', '?')} answers")
    except UNAVAILABLE as exc:
        line(False, "redis", f"unreachable ({type(exc).__name__})")
    try:
        with Connection(settings.broker, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
            line(True, "broker", f"{conn.transport_cls} broker answers")
    except Exception as exc:  # kombu raises many types; the report says which
        line(False, "broker", f"unreachable ({type(exc).__name__})")
    try:
        balance = rt.gateway.balance()
        line(True, "gateway", f"balance {balance.money} {balance.currency}")
    except GatewayError as exc:
        line(False, "gateway", f"{exc.code}: {exc.message}")
    finally:
        rt.close()
    return 1 if failed else 0
