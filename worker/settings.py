"""One typed settings object, read from the environment and validated as a whole.

Settings are grouped by what they are about (``gateway``, ``codes``, ``limits``, ``abuse``,
``captcha``, ``polling``); each field names its own environment variable and allowed range in
its metadata, so there is no second table to keep in step. Every problem is collected, so a bad
deployment is told everything wrong in one message, and no message ever repeats a value (URLs
and secrets may carry credentials).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import typing
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import phonenumbers

from worker.core.phone import InvalidPhone, deny_prefix_problem, parse_phone
from worker.core.secrets import secret_problems, token_problem
from worker.core.test_numbers import test_number_problems
from worker.errors import InvalidRequest, SettingsError
from worker.http.urls import url_problem
from worker.providers.targetsms.endpoints import (
    DEFAULT_DUPLICATE_WINDOW_SECONDS,
    DEFAULT_SEND_URL,
    DEFAULT_STATE_URL,
)
from worker.providers.targetsms.validation import (
    CODE_PLACEHOLDER,
    MAX_CODE_LENGTH,
    MIN_CODE_LENGTH,
    sms_parts,
    validate_sender,
    validate_text,
)
from worker.store.connection import sentinel_problems

__all__ = [
    "AbuseSettings",
    "CaptchaSettings",
    "CodeSettings",
    "GatewaySettings",
    "LimitSettings",
    "PollingSettings",
    "Settings",
    "SettingsError",
    "Variable",
    "WebSettings",
    "default_text",
    "load_dotenv_file",
    "locale_key",
    "variables",
]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_DAY = 86400
_INT_MAX = 10**8


_LOCALE_PREFIX = "OTP_TEXT_"
_HOST = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


def locale_key(locale: str) -> str:
    """The part of a language tag OTP_TEXT_<XX> is named by: "en-US" and "en" give "EN"."""
    return locale.replace("_", "-").split("-")[0].strip().upper()


def _locale_texts(environ: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(
        (name.removeprefix(_LOCALE_PREFIX), value.strip())
        for name, value in sorted(environ.items())
        if name.startswith(_LOCALE_PREFIX) and value.strip()
    )


def default_text(service_name: str) -> str:
    """Names the service (the guide requires it) and warns against sharing the code."""
    return f"{service_name}: код для входа {CODE_PLACEHOLDER}. Никому не сообщайте его."


def env(
    name: str,
    default: Any,
    *,
    lo: float = 0,
    hi: float = 0,
    secret: bool = False,
    hidden: bool = False,
) -> Any:
    """A field read from the environment variable ``name``.

    ``lo``/``hi`` bound numbers; ``secret`` values are kept exactly as given (spaces included)
    and, like ``hidden`` ones, never shown in a repr.
    """
    meta = {"env": name, "lo": lo, "hi": hi, "secret": secret}
    return field(default=default, repr=not (secret or hidden), metadata=meta)


@dataclass(frozen=True)
class GatewaySettings:
    """Where TargetSMS is and who we are there."""

    url: str = env("TARGETSMS_URL", DEFAULT_SEND_URL)
    state_url: str = env("TARGETSMS_STATE_URL", DEFAULT_STATE_URL)
    login: str = env("TARGETSMS_LOGIN", "", hidden=True)
    password: str = env("TARGETSMS_PASSWORD", "", secret=True)
    sender: str = env("TARGETSMS_SENDER", "")
    allow_http: bool = env("TARGETSMS_ALLOW_HTTP", False)
    connect_timeout: float = env("TARGETSMS_CONNECT_TIMEOUT", 3.05, lo=0.1, hi=60)
    read_timeout: float = env("TARGETSMS_READ_TIMEOUT", 10.0, lo=0.1, hi=120)
    push: bool = env("TARGETSMS_PUSH", False)  # statuses are pushed: polling is a safety net
    push_token: str = env("TARGETSMS_PUSH_TOKEN", "", secret=True)  # the receiver's URL secret
    # The gateway refuses a request identical to one it accepted this recently.
    duplicate_window_seconds: float = env(
        "TARGETSMS_DUPLICATE_WINDOW_SECONDS", DEFAULT_DUPLICATE_WINDOW_SECONDS, lo=1, hi=600
    )


@dataclass(frozen=True)
class CodeSettings:
    """The code, its message, and how long one send and one verification may take."""

    service_name: str = env("OTP_SERVICE_NAME", "")
    secret_key: str = env("OTP_SECRET_KEY", "", secret=True)
    # Rotation: old keys still verify codes sent under them; limit keys keep their own key.
    previous_secret_keys: str = env("OTP_SECRET_KEY_PREVIOUS", "", secret=True)  # comma-separated
    pseudonym_key: str = env("OTP_PSEUDONYM_KEY", "", secret=True)  # empty: OTP_SECRET_KEY
    text: str = env("OTP_TEXT", "")  # empty: default_text(service_name)
    max_sms_parts: int = env("OTP_MAX_SMS_PARTS", 1, lo=1, hi=10)
    length: int = env("OTP_CODE_LENGTH", 6, lo=MIN_CODE_LENGTH, hi=MAX_CODE_LENGTH)
    ttl_seconds: int = env("OTP_TTL_SECONDS", 300, lo=1, hi=_DAY)
    max_attempts: int = env("OTP_MAX_ATTEMPTS", 5, lo=1, hi=100)
    resend_cooldown_seconds: int = env("OTP_RESEND_COOLDOWN_SECONDS", 60, lo=0, hi=_DAY)
    max_sends: int = env("OTP_MAX_SENDS", 5, lo=1, hi=100)
    send_deadline_seconds: int = env("OTP_SEND_DEADLINE_SECONDS", 90, lo=1, hi=3600)
    send_max_attempts: int = env("OTP_SEND_MAX_ATTEMPTS", 8, lo=1, hi=100)
    record_ttl_seconds: int = env("OTP_RECORD_TTL_SECONDS", 3600, lo=1, hi=30 * _DAY)
    # Opt-in WebOTP: every text ends with "@<domain> #{код}" so browsers fill the code.
    webotp_domain: str = env("OTP_WEBOTP_DOMAIN", "")
    # OTP_TEXT_<XX> per language code (read by prefix, so not a field of its own variable).
    locale_texts: tuple[tuple[str, str], ...] = ()

    @property
    def message_text(self) -> str:
        return self.text_for(None)

    def base_text(self, locale: str | None) -> str:
        """The operator's text for ``locale`` (unknown or None: OTP_TEXT), without WebOTP."""
        wanted = locale_key(locale) if locale else ""
        for key, text in self.locale_texts:
            if key == wanted:
                return text
        return self.text or default_text(self.service_name)

    def text_for(self, locale: str | None) -> str:
        """What is sent: the locale's text, then the WebOTP line when one is configured."""
        text = self.base_text(locale)
        return f"{text}\n@{self.webotp_domain} #{CODE_PLACEHOLDER}" if self.webotp_domain else text


@dataclass(frozen=True)
class LimitSettings:
    """How many SMS and wrong guesses, per subject and in all (0 turns a per-subject limit off)."""

    phone_max_per_hour: int = env("OTP_PHONE_MAX_PER_HOUR", 5, hi=_INT_MAX)
    phone_max_per_day: int = env("OTP_PHONE_MAX_PER_DAY", 10, hi=_INT_MAX)
    ip_max_per_hour: int = env("OTP_IP_MAX_PER_HOUR", 10, hi=_INT_MAX)
    ip_max_per_day: int = env("OTP_IP_MAX_PER_DAY", 50, hi=_INT_MAX)
    prefix_max_per_hour: int = env("OTP_PREFIX_MAX_PER_HOUR", 20, hi=_INT_MAX)
    max_sms_per_hour: int = env("OTP_MAX_SMS_PER_HOUR", 1000, lo=1, hi=_INT_MAX)
    max_sms_per_day: int = env("OTP_MAX_SMS_PER_DAY", 10000, lo=1, hi=_INT_MAX)
    verify_max_per_phone_per_hour: int = env("OTP_VERIFY_MAX_PER_PHONE_PER_HOUR", 10, hi=_INT_MAX)
    verify_max_per_ip_per_hour: int = env("OTP_VERIFY_MAX_PER_IP_PER_HOUR", 30, hi=_INT_MAX)


@dataclass(frozen=True)
class AbuseSettings:
    """Who may receive an SMS at all, and what looks like pumping."""

    allowed_countries: tuple[str, ...] = env("OTP_ALLOWED_COUNTRIES", ("RU",))
    # Numbers typed without "+" (8 900 ..., 900 ...) are read in this region's national format.
    default_region: str = env("OTP_DEFAULT_REGION", "RU")
    deny_prefixes: tuple[str, ...] = env("OTP_DENY_PREFIXES", ())
    step_up_ip_per_hour: int = env("OTP_STEP_UP_IP_PER_HOUR", 3, lo=1, hi=_INT_MAX)
    step_up_prefix_per_hour: int = env("OTP_STEP_UP_PREFIX_PER_HOUR", 10, lo=1, hi=_INT_MAX)
    pumping_window_seconds: int = env("OTP_PUMPING_WINDOW_SECONDS", 3600, lo=60, hi=7 * _DAY)
    pumping_min_sends: int = env("OTP_PUMPING_MIN_SENDS", 20, lo=1, hi=_INT_MAX)
    pumping_min_conversion: float = env("OTP_PUMPING_MIN_CONVERSION", 0.2, lo=0, hi=1)
    pumping_cooloff_seconds: int = env("OTP_PUMPING_COOLOFF_SECONDS", 3600, lo=1, hi=30 * _DAY)
    pumping_action: str = env("OTP_PUMPING_ACTION", "captcha")  # captcha, refuse
    # Fixed codes, no SMS: "+12125550123:123456,..." (off when empty; see core/test_numbers).
    test_numbers: tuple[str, ...] = env("OTP_TEST_NUMBERS", ())
    test_numbers_outside_reserved: bool = env("OTP_TEST_NUMBERS_OUTSIDE_RESERVED", False)


@dataclass(frozen=True)
class CaptchaSettings:
    provider: str = env("CAPTCHA_PROVIDER", "")  # yandex, recaptcha, hcaptcha, turnstile
    secret: str = env("CAPTCHA_SECRET", "", secret=True)
    mode: str = env("CAPTCHA_MODE", "off")  # off, always, step_up
    verify_url: str = env("CAPTCHA_VERIFY_URL", "")
    timeout_seconds: float = env("CAPTCHA_TIMEOUT_SECONDS", 3.0, lo=0.1, hi=30)
    min_score: float = env("CAPTCHA_MIN_SCORE", 0.5, lo=0, hi=1)
    fail_open: bool = env("CAPTCHA_FAIL_OPEN", False)


@dataclass(frozen=True)
class PollingSettings:
    first_delay_seconds: float = env("OTP_POLL_FIRST_DELAY_SECONDS", 5.0, lo=0.1, hi=3600)
    max_delay_seconds: float = env("OTP_POLL_MAX_DELAY_SECONDS", 20.0, lo=0.1, hi=3600)
    max_age_seconds: int = env("OTP_POLL_MAX_AGE_SECONDS", 1800, hi=7 * _DAY)
    batch_size: int = env("OTP_POLL_BATCH_SIZE", 200, lo=1, hi=5000)


@dataclass(frozen=True)
class WebSettings:
    """What the framework drop-ins (``worker.integrations``) need to know about the site."""

    # Empty: the client is the TCP peer. Behind a proxy, the header it sets (X-Forwarded-For,
    # X-Real-IP): its last address is taken, the one the proxy itself added.
    trusted_proxy_header: str = env("OTP_TRUSTED_PROXY_HEADER", "")
    cookie_secure: bool = env("OTP_COOKIE_SECURE", True)  # off only for plain-HTTP development


# Longest backoff between two gateway attempts of one send (the send lock covers it).
RETRY_MAX_DELAY = 8.0
# Longest countdown before a send that found another worker's lock looks again.
BUSY_RETRY_MAX_DELAY = 5.0


@dataclass(frozen=True)
class Settings:
    redis_url: str = env("REDIS_URL", "redis://127.0.0.1:6379/0")
    # host:port,... and the master's name: follow the master through Sentinel (worker/store/
    # connection.py, worker/queue/broker.py); REDIS_URL then gives only password, db and TLS.
    redis_sentinels: str = env("REDIS_SENTINELS", "")
    redis_sentinel_master: str = env("REDIS_SENTINEL_MASTER", "")
    redis_cluster: bool = env("REDIS_CLUSTER", False)  # REDIS_URL names any node
    broker_url: str = env("CELERY_BROKER_URL", "")  # empty: the same Redis as redis_url
    # RabbitMQ: the send and poll queues as quorum queues (replicated; worker/queue/quorum.py).
    quorum_queues: bool = env("CELERY_QUORUM_QUEUES", False)
    redis_prefix: str = env("OTP_REDIS_PREFIX", "otp:")
    visibility_timeout: int = env("CELERY_VISIBILITY_TIMEOUT", 30, lo=1, hi=_DAY)
    gateway: GatewaySettings = field(default_factory=GatewaySettings)
    codes: CodeSettings = field(default_factory=CodeSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    abuse: AbuseSettings = field(default_factory=AbuseSettings)
    captcha: CaptchaSettings = field(default_factory=CaptchaSettings)
    polling: PollingSettings = field(default_factory=PollingSettings)
    web: WebSettings = field(default_factory=WebSettings)
    # The low-balance alert's threshold, exported by `targetsms metrics` as a gauge.
    balance_alert_below: float = env("OTP_BALANCE_ALERT_BELOW", 100.0, lo=0, hi=1e12)

    @functools.cached_property
    def test_codes(self) -> dict[str, str]:
        """OTP_TEST_NUMBERS as E.164 number -> fixed code (entries that do not parse are left
        out here and reported by ``problems``)."""
        out: dict[str, str] = {}
        for entry in self.abuse.test_numbers:
            number, _, code = entry.partition(":")
            try:
                out[parse_phone(number, self.abuse.default_region).e164] = code.strip()
            except InvalidPhone:
                continue
        return out

    @property
    def broker(self) -> str:
        """As configured; ``worker.queue.broker`` turns a Sentinel-followed one into kombu's."""
        return self.broker_url or self.redis_url

    @property
    def secret(self) -> bytes:
        """The key new codes are HMAC'd with."""
        return self.codes.secret_key.encode()

    @property
    def verify_secrets(self) -> tuple[bytes, ...]:
        """Keys a code may have been stored under: the current one, then the previous ones."""
        return (self.secret, *(k.encode() for k in _previous_keys(self.codes)))

    @property
    def pseudonym_secret(self) -> bytes:
        """The key of limit, idempotency and IP key names: OTP_PSEUDONYM_KEY, so that rotating
        OTP_SECRET_KEY resets no limit, else OTP_SECRET_KEY (as before the setting existed)."""
        return (self.codes.pseudonym_key or self.codes.secret_key).encode()

    @property
    def lock_ttl_seconds(self) -> float:
        """The send lock covers one gateway attempt and the backoff after it. It is extended
        before every attempt, so a worker that dies frees it this soon."""
        g = self.gateway
        return g.connect_timeout + g.read_timeout + RETRY_MAX_DELAY + 2

    @property
    def pending_send_grace_ms(self) -> int:
        """How long a queued send waits before the sweep enqueues it again (its message may
        be lost): longer than the broker's redelivery of an unacked message plus one lock, so
        a live message is rarely doubled (a double is harmless), but at most half the send
        window, so a lost send still goes out before its deadline."""
        redelivered = self.visibility_timeout + self.lock_ttl_seconds
        return int(min(redelivered, self.codes.send_deadline_seconds / 2) * 1000)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        problems: list[str] = []
        # Fields that fail to parse keep their defaults, so the cross-field checks still run
        # and the one message lists everything.
        values: dict[str | None, dict[str, Any]] = {}
        for var in variables():
            if var.name in environ:
                value = var.read(environ[var.name], problems)
                if value is not None:
                    values.setdefault(var.group, {})[var.field] = value
        groups = {
            f.name: _group_type(f)(**values.get(f.name, {}))
            for f in dataclasses.fields(cls)
            if _group_type(f) is not None
        }
        texts = _locale_texts(environ)
        if texts:
            groups["codes"] = dataclasses.replace(groups["codes"], locale_texts=texts)
        settings = cls(**values.get(None, {}), **groups)
        problems += settings.problems()
        if problems:
            raise SettingsError(problems)
        return settings

    def to_env(self) -> dict[str, str]:
        """The environment that reproduces these settings in another process."""
        out = {var.name: _format(var.get(self)) for var in variables()}
        out.update((_LOCALE_PREFIX + key, text) for key, text in self.codes.locale_texts)
        return out

    def replace(self, **by_variable: Any) -> Settings:
        """A copy with some values changed, named by their environment variable."""
        out = self
        known = {var.name: var for var in variables()}
        for name, value in by_variable.items():
            if name not in known and name.startswith(_LOCALE_PREFIX):  # OTP_TEXT_<XX>
                texts = dict(out.codes.locale_texts)
                texts[name.removeprefix(_LOCALE_PREFIX)] = value
                codes = dataclasses.replace(out.codes, locale_texts=tuple(sorted(texts.items())))
                out = dataclasses.replace(out, codes=codes)
            else:
                out = known[name].set(out, value)
        return out

    def problems(self) -> list[str]:
        """Cross-field checks, also for settings built in code."""
        out: list[str] = []
        g, c, a, cap = self.gateway, self.codes, self.abuse, self.captcha
        if not g.login:
            out.append("TARGETSMS_LOGIN is required")
        if not g.password:
            out.append("TARGETSMS_PASSWORD is required")
        try:
            validate_sender(g.sender)
        except InvalidRequest as exc:
            out.append(f"TARGETSMS_SENDER: {exc.message}")
        out += _text_problems(c)
        out += _control_character_problems(g)
        out += _secret_key_problems(c)
        if g.push_token:
            problem = token_problem(g.push_token)
            if problem:
                out.append(problem)
        for name, url in (("TARGETSMS_URL", g.url), ("TARGETSMS_STATE_URL", g.state_url)):
            problem = url_problem(
                url, allow_http=g.allow_http, http_hint=", or TARGETSMS_ALLOW_HTTP=1"
            )
            if problem:
                out.append(f"{name} {problem}")
        for name, url, schemes in (
            ("REDIS_URL", self.redis_url, ("redis", "rediss", "unix")),
            (
                "CELERY_BROKER_URL",
                self.broker,
                ("redis", "rediss", "sentinel", "amqp", "amqps", "pyamqp"),
            ),
        ):
            if url.partition("://")[0] not in schemes:
                out.append(f"{name} must start with one of {', '.join(s + '://' for s in schemes)}")
        if not a.allowed_countries or any(
            r not in phonenumbers.SUPPORTED_REGIONS for r in a.allowed_countries
        ):
            out.append("OTP_ALLOWED_COUNTRIES must list ISO 3166 region codes such as RU,KZ,BY")
        if a.default_region not in phonenumbers.SUPPORTED_REGIONS:
            out.append("OTP_DEFAULT_REGION must be an ISO 3166 region code such as RU or KZ")
        if cap.mode not in ("off", "always", "step_up"):
            out.append("CAPTCHA_MODE must be off, always or step_up")
        elif cap.mode != "off":
            from worker.captcha import PROVIDERS

            if cap.provider not in PROVIDERS:
                out.append(f"CAPTCHA_PROVIDER must be one of {', '.join(PROVIDERS)}")
            if not cap.secret:
                out.append("CAPTCHA_SECRET is required when CAPTCHA_MODE is not off")
            if cap.verify_url:
                problem = url_problem(cap.verify_url, allow_http=False)
                if problem:
                    out.append(f"CAPTCHA_VERIFY_URL {problem}")
        out += _topology_problems(self)
        if self.web.trusted_proxy_header and not re.fullmatch(
            r"[A-Za-z0-9-]+", self.web.trusted_proxy_header
        ):
            out.append("OTP_TRUSTED_PROXY_HEADER must be a header name such as X-Forwarded-For")
        if a.pumping_action not in ("captcha", "refuse"):
            out.append("OTP_PUMPING_ACTION must be captcha or refuse")
        out += _test_number_problems(self)
        if any(deny_prefix_problem(p) for p in a.deny_prefixes):
            out.append("OTP_DENY_PREFIXES must list + and ASCII digits, e.g. +7,+44,+7999")
        if c.ttl_seconds > c.record_ttl_seconds:
            out.append("OTP_RECORD_TTL_SECONDS must be at least OTP_TTL_SECONDS")
        # Redis redelivers a message not acked within the visibility timeout, and a countdown
        # task stays unacked until it is due: every countdown must be shorter, or it would be
        # delivered again and again. (A long send redelivered early is safe: the lock holds.)
        needed = max(self.polling.max_delay_seconds, BUSY_RETRY_MAX_DELAY) + 5
        if self.visibility_timeout < needed:
            out.append(
                f"CELERY_VISIBILITY_TIMEOUT must be at least {needed:.0f} s (the longest "
                "countdown plus 5 s): raise it or lower OTP_POLL_MAX_DELAY_SECONDS"
            )
        return out


def _topology_problems(s: Settings) -> list[str]:
    out = sentinel_problems(s.redis_sentinels, s.redis_sentinel_master)
    if s.redis_cluster and s.redis_sentinels:
        out.append("REDIS_CLUSTER=1 and REDIS_SENTINELS exclude each other: choose one")
    if s.broker_url.startswith("sentinel://") and not s.redis_sentinel_master:
        out.append("REDIS_SENTINEL_MASTER is required with a sentinel:// CELERY_BROKER_URL")
    if s.redis_cluster and s.broker.partition("://")[0] in ("redis", "rediss"):
        out.append(
            "REDIS_CLUSTER=1: the Celery broker cannot run on a Redis Cluster (kombu does not "
            "support it): set CELERY_BROKER_URL to RabbitMQ (amqp://) or a Sentinel Redis (sentinel://)"
        )
    return out


def _text_problems(c: CodeSettings) -> list[str]:
    """A text that cannot be sent must stop the worker at start, not fail every SMS."""
    if not c.service_name.strip():
        return ["OTP_SERVICE_NAME is required (the guide wants it in every SMS)"]
    out: list[str] = []
    if c.webotp_domain and not _HOST.fullmatch(c.webotp_domain):
        out.append("OTP_WEBOTP_DOMAIN must be a host name such as example.ru (no scheme or port)")
    named: list[tuple[str, str | None]] = [("OTP_TEXT", None)]
    for key, _ in c.locale_texts:
        if re.fullmatch(r"[A-Z]{2,3}", key):
            named.append((_LOCALE_PREFIX + key, key))
        else:
            out.append(f"{_LOCALE_PREFIX + key} must be named by a 2- or 3-letter language code")
    for name, locale in named:
        problem = _one_text_problem(c, name, locale)
        if problem:
            out.append(problem)
    return out


def _one_text_problem(c: CodeSettings, name: str, locale: str | None) -> str | None:
    try:
        validate_text(c.base_text(locale), c.service_name)
    except InvalidRequest as exc:
        return f"{name}: {exc.message}"
    if re.search(r"[\x00-\x1f\x7f-\x9f]", c.base_text(locale)):
        return f"{name} must not contain control characters (line breaks included)"
    longest = c.text_for(locale).replace(CODE_PLACEHOLDER, "9" * MAX_CODE_LENGTH)
    parts = sms_parts(longest)
    if parts > c.max_sms_parts:
        webotp = " (the WebOTP line included)" if c.webotp_domain else ""
        return (
            f"{name} takes {parts} SMS parts with a {MAX_CODE_LENGTH}-digit code{webotp}: "
            "shorten it or raise OTP_MAX_SMS_PARTS"
        )
    return None


def _test_number_problems(s: Settings) -> list[str]:
    a = s.abuse
    unparsed = [
        f"OTP_TEST_NUMBERS entry {i} must be <phone>:<code>, comma-separated"
        for i, entry in enumerate(a.test_numbers, start=1)
        if ":" not in entry or _unparsed(entry.partition(":")[0], a.default_region)
    ]
    return unparsed + test_number_problems(
        s.test_codes, s.codes.length, outside_reserved=a.test_numbers_outside_reserved
    )


def _unparsed(number: str, region: str) -> bool:
    try:
        parse_phone(number, region)
    except InvalidPhone:
        return True
    return False


def _control_character_problems(g: GatewaySettings) -> list[str]:
    """Every request would fail ``invalid_request`` later: refuse at load, naming the variable
    and never the value."""
    named = {"TARGETSMS_LOGIN": g.login, "TARGETSMS_PASSWORD": g.password}
    named["TARGETSMS_SENDER"] = g.sender
    return [
        f"{name} holds a control character (the value is not shown)"
        for name, value in named.items()
        if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value)
    ]


def _previous_keys(c: CodeSettings) -> list[str]:
    return [k.strip() for k in c.previous_secret_keys.split(",") if k.strip()]


def _secret_key_problems(c: CodeSettings) -> list[str]:
    out = secret_problems("OTP_SECRET_KEY", c.secret_key)
    for key in _previous_keys(c):
        out += secret_problems("OTP_SECRET_KEY_PREVIOUS (one of its keys)", key)
    if c.pseudonym_key:
        out += secret_problems("OTP_PSEUDONYM_KEY", c.pseudonym_key)
    return list(dict.fromkeys(out))  # one line per variable, however many keys it lists


@dataclass(frozen=True, slots=True)
class Variable:
    """One environment variable: the field it fills (``group`` None: a top-level field)."""

    name: str
    group: str | None
    field: str
    kind: type
    lo: float
    hi: float
    secret: bool

    def get(self, settings: Settings) -> Any:
        holder = getattr(settings, self.group) if self.group else settings
        return getattr(holder, self.field)

    def set(self, settings: Settings, value: Any) -> Settings:
        if self.group is None:
            return dataclasses.replace(settings, **{self.field: value})
        group = dataclasses.replace(getattr(settings, self.group), **{self.field: value})
        return dataclasses.replace(settings, **{self.group: group})

    def read(self, raw: str, problems: list[str]) -> Any:
        """The typed value, or None (default) after noting what is wrong."""
        text = raw.strip()
        if self.secret:
            return raw
        if self.kind is str:
            return text or None
        if self.kind is tuple:
            return tuple(p.strip().upper() for p in text.split(",") if p.strip()) or None
        if self.kind is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            problems.append(f"{self.name} must be 1/0, true/false, yes/no or on/off")
            return None
        if not text:
            return None
        integer = self.kind is int
        lo, hi = (int(self.lo), int(self.hi)) if integer else (self.lo, self.hi)
        try:
            value: float | None = int(text) if integer else float(text)
        except ValueError:
            value = None
        if value is None or not lo <= value <= hi:
            what = "an integer" if integer else "a number"
            problems.append(f"{self.name} must be {what} from {lo} to {hi}")
            return None
        return value


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """A class's annotations, resolved once: ``from_env`` reads them for every variable, and
    resolving them (they are strings here) is most of what loading settings costs."""
    return typing.get_type_hints(cls)


def _group_type(f: dataclasses.Field[Any]) -> Any:
    kind = _hints(Settings)[f.name]
    return kind if dataclasses.is_dataclass(kind) else None


def _fields_of(cls: type, group: str | None) -> Iterator[Variable]:
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        if "env" not in f.metadata:
            continue
        kind = typing.get_origin(hints[f.name]) or hints[f.name]
        m = f.metadata
        yield Variable(m["env"], group, f.name, kind, m["lo"], m["hi"], m["secret"])


def variables() -> Iterator[Variable]:
    """Every environment variable the settings read, in declaration order."""
    yield from _fields_of(Settings, None)
    for f in dataclasses.fields(Settings):
        group = _group_type(f)
        if group is not None:
            yield from _fields_of(group, f.name)


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


def load_dotenv_file(directory: Path | None = None) -> bool:
    """Export ``.env`` in ``directory`` (the current one by default) when there is one, as
    ``honcho start`` does; variables already set win over the file. True when a file was read.

    The CLI and the example app call it before ``Settings.from_env()``; a library never should.
    """
    path = (directory or Path.cwd()) / ".env"
    if not path.is_file():
        return False
    from dotenv import load_dotenv

    load_dotenv(path, override=False)
    return True
