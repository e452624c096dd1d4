"""``targetsms check``: is this deployment able to send? One JSON object (or, with ``--text``,
one line per part): settings, Redis, the broker, a worker consuming the send queue, the gateway.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Any, TextIO

from kombu import Connection

from worker.core.codes import pseudonym
from worker.core.endpoint import endpoint
from worker.core.secrets import flower_auth_problems
from worker.errors import GatewayError
from worker.providers.targetsms.validation import CODE_PLACEHOLDER, sms_parts
from worker.queue.broker import broker_url, transport_options
from worker.runtime import Runtime
from worker.settings import Settings, SettingsError
from worker.store import StoreUnavailable

__all__ = ["run_checks"]

# How long to wait for workers to answer the broadcast: they answer within milliseconds, so one
# second leaves room for a loaded host without making `check` slow.
WORKER_REPLY_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Check:
    part: str
    ok: bool
    detail: str


def run_checks(out: TextIO, *, text: bool = False) -> int:
    checks, notes = collect()
    ok = all(c.ok for c in checks)
    if text:
        for c in checks:
            out.write(f"{'ok  ' if c.ok else 'FAIL'} {c.part:<9} {c.detail}\n")
        for note in notes:
            out.write(f"note     {note}\n")
    else:
        report: dict[str, Any] = {"ok": ok, "checks": [asdict(c) for c in checks], "notes": notes}
        out.write(json.dumps(report, ensure_ascii=False) + "\n")
    out.flush()
    return 0 if ok else 1


def _texts(settings: Settings) -> list[Check]:
    """Each text as it is sent (the WebOTP line included) and its SMS parts: the text itself
    holds no secret, and the operator must see what a phone shows."""
    codes = settings.codes
    out = []
    named = [("OTP_TEXT", None), *((f"OTP_TEXT_{k}", k) for k, _ in codes.locale_texts)]
    for name, locale in named:
        text = codes.text_for(locale)
        parts = sms_parts(text.replace(CODE_PLACEHOLDER, "0" * codes.length))
        plural = "s" if parts > 1 else ""
        shown = text.replace("\n", " \u23ce ")  # a line break, visibly
        out.append(
            Check("text", True, f"{name}: {parts} SMS part{plural} with a "
                  f"{codes.length}-digit code: {shown}")
        )  # fmt: skip
    return out


def _test_numbers_note(settings: Settings) -> str:
    """How many test numbers and who, by the pseudonym their send logs carry (no number)."""
    who = ", ".join(
        pseudonym(settings.pseudonym_secret, "phone", phone)[:12] for phone in settings.test_codes
    )
    n = len(settings.test_codes)
    return (
        f"OTP_TEST_NUMBERS: {n} number{'s' if n > 1 else ''} get a fixed code and no SMS "
        f"(logged as {who}; counted in targetsms_test_number_sends)"
    )


def collect() -> tuple[list[Check], list[str]]:
    checks: list[Check] = []
    notes: list[str] = []
    flower = _flower()
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        return [Check("settings", False, problem) for problem in exc.problems] + flower, notes
    checks += flower
    if not flower:
        notes.append("FLOWER_BASIC_AUTH is not set: `celery -A worker flower` refuses to start")
    sender, service = settings.gateway.sender, settings.codes.service_name
    checks.append(Check("settings", True, f"sender {sender}, service {service}"))
    checks += _texts(settings)
    if settings.test_codes:
        notes.append(_test_numbers_note(settings))
    if settings.captcha.mode == "off":
        notes.append("captcha is off here: make sure your form checks one (the guide requires it)")
    rt = Runtime.from_settings(settings)
    redis_at = endpoint(settings.redis_url)
    try:
        checks.append(Check("redis", True, f"Redis {rt.store.ping()} at {redis_at}"))
    except StoreUnavailable as exc:
        checks.append(Check("redis", False, f"unreachable at {redis_at} ({exc.__cause__ or exc})"))
    broker_at = endpoint(settings.broker)
    try:
        url, options = broker_url(settings), transport_options(settings)
        with Connection(url, connect_timeout=3, transport_options=options) as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
            checks.append(Check("broker", True, f"{conn.transport_cls} broker at {broker_at}"))
        broker_ok = True
    except Exception as exc:  # kombu raises many types; the report says which
        checks.append(Check("broker", False, f"unreachable at {broker_at} ({type(exc).__name__})"))
        broker_ok = False
    if broker_ok:
        checks.append(_workers())
    try:
        balance = rt.provider.balance()
        checks.append(Check("gateway", True, f"balance {balance.money} {balance.currency}"))
    except GatewayError as exc:
        checks.append(Check("gateway", False, f"{exc.code}: {exc.message}"))
    finally:
        rt.close()
    return checks, notes


def _flower() -> list[Check]:
    """Flower reads FLOWER_BASIC_AUTH itself; the same rule as its start refusal, said here."""
    value = os.environ.get("FLOWER_BASIC_AUTH")
    if value is None:
        return []
    problems = flower_auth_problems(value)
    if problems:
        return [Check("flower", False, problem) for problem in problems]
    return [Check("flower", True, "FLOWER_BASIC_AUTH has a strong password")]


def _workers() -> Check:
    """Which workers answer a broadcast and consume the send queue (a queued code waits in
    the broker until one does)."""
    from worker.queue.names import SEND_QUEUE
    from worker.runtime import celery_app

    app = celery_app()

    try:
        replies: dict[str, Any] | None = app.control.inspect(
            timeout=WORKER_REPLY_SECONDS
        ).active_queues()
    except Exception as exc:  # the broker answered a moment ago; say what failed, not a trace
        return Check("workers", False, f"no answer to the broadcast ({type(exc).__name__})")
    consuming = sorted(
        name for name, queues in (replies or {}).items()
        if any(q.get("name") == SEND_QUEUE for q in queues or ())
    )  # fmt: skip
    if not consuming:
        return Check("workers", False, f"no worker consumes {SEND_QUEUE}: sends stay queued")
    return Check("workers", True, f"{len(consuming)} consuming {SEND_QUEUE}")
