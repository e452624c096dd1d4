"""One typed settings object, read from the environment and validated as a whole.

Every problem is collected, so a bad deployment is told everything wrong in one message, and no
message ever repeats a value (URLs and secrets may carry credentials).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from .gateway.client import DEFAULT_SEND_URL, DEFAULT_STATE_URL
from .gateway.errors import InvalidRequest
from .gateway.validation import (
    CODE_PLACEHOLDER,
    MAX_CODE_LENGTH,
    MIN_CODE_LENGTH,
    url_problem,
    validate_sender,
    validate_text,
)

__all__ = ["Settings", "SettingsError", "default_text"]

T = TypeVar("T")

# Longest backoff between two gateway attempts of one send.
RETRY_MAX_DELAY = 8.0
# Longest countdown before a send that found another worker's lock looks again.
BUSY_RETRY_MAX_DELAY = 5.0

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def default_text(service_name: str) -> str:
    """Names the service (the guide requires it) and warns against sharing the code."""
    return f"{service_name}: код для входа {CODE_PLACEHOLDER}. Никому не сообщайте его."


class SettingsError(Exception):
    """Settings are missing or invalid; ``problems`` lists each, ``str()`` is one line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid settings: " + "; ".join(problems))


@dataclass(frozen=True)
class Settings:
    # Storage and broker
    redis_url: str = "redis://127.0.0.1:6379/0"
    broker_url: str = ""  # empty: the same Redis as redis_url
    redis_prefix: str = "otp:"
    visibility_timeout: int = 30

    # Gateway
    targetsms_url: str = DEFAULT_SEND_URL
    targetsms_state_url: str = DEFAULT_STATE_URL
    targetsms_login: str = field(default="", repr=False)
    targetsms_password: str = field(default="", repr=False)
    targetsms_sender: str = ""
    targetsms_allow_http: bool = False
    targetsms_connect_timeout: float = 3.05
    targetsms_read_timeout: float = 10.0

    # Codes
    service_name: str = ""
    secret_key: str = field(default="", repr=False)
    text: str = ""  # empty: default_text(service_name)
    code_length: int = 6
    ttl_seconds: int = 300
    max_attempts: int = 5
    resend_cooldown_seconds: int = 60
    max_sends: int = 5
    send_deadline_seconds: int = 60
    send_max_attempts: int = 8
    record_ttl_seconds: int = 3600

    # Who may receive an SMS, and how many (0 turns a per-subject limit off)
    allowed_countries: tuple[str, ...] = ("RU",)
    phone_max_per_hour: int = 5
    phone_max_per_day: int = 10
    ip_max_per_hour: int = 10
    ip_max_per_day: int = 50
    prefix_max_per_hour: int = 20
    max_sms_per_hour: int = 1000
    max_sms_per_day: int = 10000

    # Step-up captcha, pumping, guessing
    captcha_provider: str = ""  # yandex, recaptcha, hcaptcha, turnstile
    captcha_secret: str = field(default="", repr=False)
    captcha_mode: str = "off"  # off, always, step_up
    captcha_verify_url: str = ""
    captcha_timeout_seconds: float = 3.0
    captcha_min_score: float = 0.5
    captcha_fail_open: bool = False
    step_up_ip_per_hour: int = 3
    step_up_prefix_per_hour: int = 10
    pumping_window_seconds: int = 3600
    pumping_min_sends: int = 20
    pumping_min_conversion: float = 0.2
    pumping_cooloff_seconds: int = 3600
    pumping_action: str = "captcha"  # captcha, refuse
    deny_prefixes: tuple[str, ...] = ()
    verify_max_per_phone_per_hour: int = 10
    verify_max_per_ip_per_hour: int = 30

    # Delivery polling
    poll_first_delay_seconds: float = 5.0
    poll_max_delay_seconds: float = 20.0
    poll_max_age_seconds: int = 1800
    poll_batch_size: int = 200

    # Metrics
    balance_alert_below: float = 100.0  # the low-balance alert's threshold, exported as a gauge

    @property
    def broker(self) -> str:
        return self.broker_url or self.redis_url

    @property
    def message_text(self) -> str:
        return self.text or default_text(self.service_name)

    @property
    def lock_ttl_seconds(self) -> float:
        """The send lock covers one gateway attempt and the backoff after it. It is extended
        before every attempt, so a worker that dies frees it this soon."""
        return self.targetsms_connect_timeout + self.targetsms_read_timeout + RETRY_MAX_DELAY + 2

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        problems: list[str] = []
        values = {v.field: _read(v, env[v.env], problems) for v in VARIABLES if v.env in env}
        # Fields that failed to parse keep their defaults, so the cross-field checks still run
        # and the one message lists everything.
        settings = cls(**{k: v for k, v in values.items() if v is not None})
        problems += settings.problems()
        if problems:
            raise SettingsError(problems)
        return settings

    def to_env(self) -> dict[str, str]:
        """The environment that reproduces these settings in another process."""
        return {v.env: _format(getattr(self, v.field)) for v in VARIABLES}

    def problems(self) -> list[str]:
        """Cross-field checks, also for settings built in code."""
        out: list[str] = []
        if not self.targetsms_login:
            out.append("TARGETSMS_LOGIN is required")
        if not self.targetsms_password:
            out.append("TARGETSMS_PASSWORD is required")
        try:
            validate_sender(self.targetsms_sender)
        except InvalidRequest as exc:
            out.append(f"TARGETSMS_SENDER: {exc.message}")
        if not self.service_name.strip():
            out.append("OTP_SERVICE_NAME is required (the guide wants it in every SMS)")
        else:
            try:
                validate_text(self.message_text, self.service_name)
            except InvalidRequest as exc:
                out.append(f"OTP_TEXT: {exc.message}")
        if len(self.secret_key) < 16:
            out.append("OTP_SECRET_KEY is required: at least 16 random characters")
        for name, url in (
            ("TARGETSMS_URL", self.targetsms_url),
            ("TARGETSMS_STATE_URL", self.targetsms_state_url),
        ):
            problem = url_problem(
                url, allow_http=self.targetsms_allow_http, http_hint=", or TARGETSMS_ALLOW_HTTP=1"
            )
            if problem:
                out.append(f"{name} {problem}")
        for name, url, schemes in (
            ("REDIS_URL", self.redis_url, ("redis", "rediss", "unix")),
            ("CELERY_BROKER_URL", self.broker, ("redis", "rediss", "amqp", "amqps", "pyamqp")),
        ):
            if url.partition("://")[0] not in schemes:
                out.append(f"{name} must start with one of {', '.join(s + '://' for s in schemes)}")
        for region in self.allowed_countries:
            if len(region) != 2 or not region.isalpha() or not region.isupper():
                out.append("OTP_ALLOWED_COUNTRIES must list ISO 3166 codes such as RU,KZ,BY")
                break
        if self.captcha_mode not in ("off", "always", "step_up"):
            out.append("CAPTCHA_MODE must be off, always or step_up")
        elif self.captcha_mode != "off":
            from .captcha import PROVIDERS

            if self.captcha_provider not in PROVIDERS:
                out.append(f"CAPTCHA_PROVIDER must be one of {', '.join(PROVIDERS)}")
            if not self.captcha_secret:
                out.append("CAPTCHA_SECRET is required when CAPTCHA_MODE is not off")
            if self.captcha_verify_url:
                problem = url_problem(self.captcha_verify_url, allow_http=False)
                if problem:
                    out.append(f"CAPTCHA_VERIFY_URL {problem}")
        if self.pumping_action not in ("captcha", "refuse"):
            out.append("OTP_PUMPING_ACTION must be captcha or refuse")
        for prefix in self.deny_prefixes:
            if not (prefix.startswith("+") and prefix[1:].isdigit() and 2 <= len(prefix) <= 16):
                out.append("OTP_DENY_PREFIXES must list numbers or prefixes such as +7999,+7900123")
                break
        if self.ttl_seconds > self.record_ttl_seconds:
            out.append("OTP_RECORD_TTL_SECONDS must be at least OTP_TTL_SECONDS")
        # Redis redelivers a message not acked within the visibility timeout, and a countdown
        # task stays unacked until it is due: every countdown must be shorter, or it would be
        # delivered again and again. (A long send redelivered early is safe: the lock holds.)
        needed = max(self.poll_max_delay_seconds, BUSY_RETRY_MAX_DELAY) + 5
        if self.visibility_timeout < needed:
            out.append(
                f"CELERY_VISIBILITY_TIMEOUT must be at least {needed:.0f} s (the longest "
                "countdown plus 5 s): raise it or lower OTP_POLL_MAX_DELAY_SECONDS"
            )
        return out


@dataclass(frozen=True, slots=True)
class _Var:
    """One environment variable: which field it fills, how it is read, its allowed range."""

    field: str
    env: str
    kind: str = "str"  # str (stripped, empty = default), secret (as given), int, float, bool, list
    lo: float = 0
    hi: float = 0


_DAY = 86400
_INT_MAX = 10**8
VARIABLES: tuple[_Var, ...] = (
    _Var("redis_url", "REDIS_URL"),
    _Var("broker_url", "CELERY_BROKER_URL"),
    _Var("redis_prefix", "OTP_REDIS_PREFIX"),
    _Var("visibility_timeout", "CELERY_VISIBILITY_TIMEOUT", "int", 1, _DAY),
    _Var("targetsms_url", "TARGETSMS_URL"),
    _Var("targetsms_state_url", "TARGETSMS_STATE_URL"),
    _Var("targetsms_login", "TARGETSMS_LOGIN"),
    _Var("targetsms_password", "TARGETSMS_PASSWORD", "secret"),
    _Var("targetsms_sender", "TARGETSMS_SENDER"),
    _Var("targetsms_allow_http", "TARGETSMS_ALLOW_HTTP", "bool"),
    _Var("targetsms_connect_timeout", "TARGETSMS_CONNECT_TIMEOUT", "float", 0.1, 60),
    _Var("targetsms_read_timeout", "TARGETSMS_READ_TIMEOUT", "float", 0.1, 120),
    _Var("service_name", "OTP_SERVICE_NAME"),
    _Var("secret_key", "OTP_SECRET_KEY", "secret"),
    _Var("text", "OTP_TEXT"),
    _Var("code_length", "OTP_CODE_LENGTH", "int", MIN_CODE_LENGTH, MAX_CODE_LENGTH),
    _Var("ttl_seconds", "OTP_TTL_SECONDS", "int", 1, _DAY),
    _Var("max_attempts", "OTP_MAX_ATTEMPTS", "int", 1, 100),
    _Var("resend_cooldown_seconds", "OTP_RESEND_COOLDOWN_SECONDS", "int", 0, _DAY),
    _Var("max_sends", "OTP_MAX_SENDS", "int", 1, 100),
    _Var("send_deadline_seconds", "OTP_SEND_DEADLINE_SECONDS", "int", 1, 3600),
    _Var("send_max_attempts", "OTP_SEND_MAX_ATTEMPTS", "int", 1, 100),
    _Var("record_ttl_seconds", "OTP_RECORD_TTL_SECONDS", "int", 1, 30 * _DAY),
    _Var("allowed_countries", "OTP_ALLOWED_COUNTRIES", "list"),
    _Var("phone_max_per_hour", "OTP_PHONE_MAX_PER_HOUR", "int", 0, _INT_MAX),
    _Var("phone_max_per_day", "OTP_PHONE_MAX_PER_DAY", "int", 0, _INT_MAX),
    _Var("ip_max_per_hour", "OTP_IP_MAX_PER_HOUR", "int", 0, _INT_MAX),
    _Var("ip_max_per_day", "OTP_IP_MAX_PER_DAY", "int", 0, _INT_MAX),
    _Var("prefix_max_per_hour", "OTP_PREFIX_MAX_PER_HOUR", "int", 0, _INT_MAX),
    _Var("max_sms_per_hour", "OTP_MAX_SMS_PER_HOUR", "int", 1, _INT_MAX),
    _Var("max_sms_per_day", "OTP_MAX_SMS_PER_DAY", "int", 1, _INT_MAX),
    _Var("captcha_provider", "CAPTCHA_PROVIDER"),
    _Var("captcha_secret", "CAPTCHA_SECRET", "secret"),
    _Var("captcha_mode", "CAPTCHA_MODE"),
    _Var("captcha_verify_url", "CAPTCHA_VERIFY_URL"),
    _Var("captcha_timeout_seconds", "CAPTCHA_TIMEOUT_SECONDS", "float", 0.1, 30),
    _Var("captcha_min_score", "CAPTCHA_MIN_SCORE", "float", 0, 1),
    _Var("captcha_fail_open", "CAPTCHA_FAIL_OPEN", "bool"),
    _Var("step_up_ip_per_hour", "OTP_STEP_UP_IP_PER_HOUR", "int", 1, _INT_MAX),
    _Var("step_up_prefix_per_hour", "OTP_STEP_UP_PREFIX_PER_HOUR", "int", 1, _INT_MAX),
    _Var("pumping_window_seconds", "OTP_PUMPING_WINDOW_SECONDS", "int", 60, 7 * _DAY),
    _Var("pumping_min_sends", "OTP_PUMPING_MIN_SENDS", "int", 1, _INT_MAX),
    _Var("pumping_min_conversion", "OTP_PUMPING_MIN_CONVERSION", "float", 0, 1),
    _Var("pumping_cooloff_seconds", "OTP_PUMPING_COOLOFF_SECONDS", "int", 1, 30 * _DAY),
    _Var("pumping_action", "OTP_PUMPING_ACTION"),
    _Var("deny_prefixes", "OTP_DENY_PREFIXES", "list"),
    _Var("verify_max_per_phone_per_hour", "OTP_VERIFY_MAX_PER_PHONE_PER_HOUR", "int", 0, _INT_MAX),
    _Var("verify_max_per_ip_per_hour", "OTP_VERIFY_MAX_PER_IP_PER_HOUR", "int", 0, _INT_MAX),
    _Var("poll_first_delay_seconds", "OTP_POLL_FIRST_DELAY_SECONDS", "float", 0.1, 3600),
    _Var("poll_max_delay_seconds", "OTP_POLL_MAX_DELAY_SECONDS", "float", 0.1, 3600),
    _Var("poll_max_age_seconds", "OTP_POLL_MAX_AGE_SECONDS", "int", 0, 7 * _DAY),
    _Var("poll_batch_size", "OTP_POLL_BATCH_SIZE", "int", 1, 5000),
    _Var("balance_alert_below", "OTP_BALANCE_ALERT_BELOW", "float", 0, 1e12),
)


def _read(var: _Var, raw: str, problems: list[str]) -> Any:
    """The typed value of one variable, or None (default) after noting what is wrong."""
    text = raw.strip()
    if var.kind == "secret":
        return raw
    if var.kind == "str":
        return text or None
    if var.kind == "list":
        return tuple(p.strip().upper() for p in text.split(",") if p.strip()) or None
    if var.kind == "bool":
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        problems.append(f"{var.env} must be 1/0, true/false, yes/no or on/off")
        return None
    if not text:
        return None
    conv: Callable[[str], float] = int if var.kind == "int" else float
    lo, hi = (int(var.lo), int(var.hi)) if var.kind == "int" else (var.lo, var.hi)
    what = "an integer" if var.kind == "int" else "a number"
    try:
        value = conv(text)
    except ValueError:
        value = None
    if value is None or not lo <= value <= hi:
        problems.append(f"{var.env} must be {what} from {lo} to {hi}")
        return None
    return value


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


assert {v.field for v in VARIABLES} == {f.name for f in fields(Settings)}
