"""The TargetSMS client: one method per API function, one HTTP call per method.

It knows nothing of Celery or Redis and does not retry: ``retry.call_with_retries`` wraps a call
when the caller has a deadline. Secrets stay out of every message it raises and of its repr.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Sequence
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import phonenumbers

from worker.core.phone import InvalidPhone, Phone, parse_phone
from worker.errors import (
    DeliveryFailed,
    DuplicateRequest,
    GatewayError,
    GatewayRejected,
    InvalidRequest,
    NetworkError,
    ProtocolError,
    StatusConnectionError,
)
from worker.http.transport import RequestsTransport, Timeout, Transport
from worker.http.urls import url_problem
from worker.providers.models import Balance, SendResult, StateEntry
from worker.providers.targetsms.endpoints import (
    DEFAULT_DUPLICATE_WINDOW_SECONDS,
    DEFAULT_SEND_URL,
    DEFAULT_STATE_URL,
)
from worker.providers.targetsms.protocol import (
    CONTENT_TYPE,
    MAX_RESPONSE_BYTES,
    build_balance_request,
    build_send_request,
    build_set_push_url_request,
    build_state_request,
    parse_balance_response,
    parse_send_response,
    parse_set_push_url_response,
    parse_state_response,
)
from worker.providers.targetsms.validation import (
    validate_code_length,
    validate_sender,
    validate_text,
)

__all__ = [
    "DEFAULT_DUPLICATE_WINDOW_SECONDS",
    "DEFAULT_SEND_URL",
    "DEFAULT_STATE_URL",
    "TargetSMSClient",
]

T = TypeVar("T")

# Initial statuses that mean this send already failed for good.
_FAILED_INITIAL = {
    "not_valid_phone": "phone_invalid",
    "not_deliver": "not_delivered",
    "expired": "expired",
}
_HTTP_HINT = ": the password travels in the body; allow_http=True to override"
_HEADERS = {"Content-Type": CONTENT_TYPE, "Accept": "text/xml"}
# A request-level <error> of a state call that is about the whole request, not about one id:
# splitting the batch cannot help.
_WHOLE_REQUEST_ERRORS = frozenset({"auth_failed", "account_blocked", "bad_request"})
_SEP = r"[\s\-().]*"


def phone_pattern(e164: str) -> re.Pattern[str]:
    """The number in every spelling a gateway text might use: ``+79001234567``,
    ``79001234567``, ``89001234567``, ``9001234567``, with spaces, dashes, dots or brackets."""
    number = phonenumbers.parse(e164)
    cc = str(number.country_code)
    trunk = "8" if cc == "7" else "0"
    prefix = rf"(?:\+?{_SEP.join(cc)}|{trunk})"
    body = _SEP.join(phonenumbers.national_significant_number(number))
    return re.compile(rf"(?<![0-9])(?:{prefix}{_SEP})?{body}(?![0-9])")


def sibling_url(url: str, path: str) -> str:
    """Another API function on the same host (``state.php`` -> ``balance.php``)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class TargetSMSClient:
    def __init__(
        self,
        *,
        login: str,
        password: str,
        sender: str,
        service_name: str,
        send_url: str = DEFAULT_SEND_URL,
        state_url: str = DEFAULT_STATE_URL,
        balance_url: str | None = None,
        transport: Transport | None = None,
        timeout: Timeout | None = None,
        allow_http: bool = False,
        observer: Callable[[str, float], None] | None = None,
        duplicate_window_seconds: float = DEFAULT_DUPLICATE_WINDOW_SECONDS,
    ) -> None:
        """``observer(endpoint, seconds)`` is told each HTTP request's duration (failed ones
        too), endpoint being send, state or balance: how metrics see the gateway without this
        package knowing where they go. It must not raise. ``duplicate_window_seconds``: how long
        the platform refuses a repeated request (its ``DuplicateRequest.retry_after``)."""
        if not login or not password:
            raise InvalidRequest("login and password must not be empty")
        if not duplicate_window_seconds > 0:
            raise InvalidRequest("the duplicate window must be a positive number of seconds")
        balance_url = balance_url or sibling_url(state_url, "/xml/balance.php")
        for name, url in (("send", send_url), ("state", state_url), ("balance", balance_url)):
            problem = url_problem(url, allow_http=allow_http, http_hint=_HTTP_HINT)
            if problem:
                raise InvalidRequest(f"{name} URL {problem}")
        self._login = login
        self._password = password
        self.sender = validate_sender(sender)
        self.service_name = service_name
        self.send_url = send_url
        self.state_url = state_url
        self.balance_url = balance_url
        self.timeout = timeout or Timeout()
        self._transport: Transport = transport or RequestsTransport()
        self._observer = observer
        self.duplicate_window_seconds = duplicate_window_seconds
        # Longest first, so a login inside the password cannot leave the password's tail.
        words = sorted({login, password}, key=len, reverse=True)
        self._credentials = re.compile("|".join(map(re.escape, words)), re.IGNORECASE)

    def __repr__(self) -> str:
        return f"TargetSMSClient(send_url={self.send_url!r}, sender={self.sender!r})"

    def close(self) -> None:
        self._transport.close()

    def send_code(
        self, phone: str | Phone, *, text: str, code_length: int, time_left: float | None = None
    ) -> SendResult:
        """Ask the gateway to generate and send a code. Raises unless the SMS went out.

        A ``Phone`` was checked when it was parsed and is sent as it is (the worker's case: the
        record's number, 4% of a send's CPU to parse again); a string is checked here.
        ``time_left`` caps the connect and read timeouts (a retry loop's deadline)."""
        if isinstance(phone, Phone):
            e164 = phone.e164
        else:
            try:
                e164 = parse_phone(phone).e164
            except InvalidPhone as exc:
                raise InvalidRequest(str(exc), code="invalid_phone") from None
        validate_text(text, self.service_name)
        validate_code_length(code_length)
        body = build_send_request(
            login=self._login,
            password=self._password,
            phone=e164,
            sender=self.sender,
            code_length=code_length,
            text=text,
        )
        answer = self._post("send", self.send_url, body, time_left)
        try:
            result = self._redacting(parse_send_response, answer, phone=e164)
        except ProtocolError as exc:
            exc.maybe_sent = True  # a 2xx we cannot read: the SMS may have gone out
            raise
        except GatewayRejected as exc:
            if exc.code == "duplicate_request":
                raise DuplicateRequest(
                    exc.message, retry_after=self.duplicate_window_seconds
                ) from None
            raise
        if len(result.code) != code_length:
            raise ProtocolError(
                f"<success> carries a {len(result.code)}-digit code, {code_length} were asked for",
                maybe_sent=True,
            )
        if result.status == "connection_error":
            raise StatusConnectionError("gateway reports connection_error: the SMS did not go out")
        failed = _FAILED_INITIAL.get(result.status)
        if failed:
            raise DeliveryFailed(
                f"gateway reports initial status {result.status}",
                code=failed,
                id_sms=result.id_sms,
                status=result.status,
            )
        return result

    def get_state(self, ids: Sequence[str], *, time_left: float | None = None) -> list[StateEntry]:
        """Statuses of many messages, in one request unless the gateway refuses the batch.

        Whether the platform answers an unknown id inside a batch with a per-id ``<error>`` or
        with one request-level ``<error>`` is not confirmed. The second would cost every valid
        status in the batch, so the batch is halved until each such error belongs to one id,
        which then comes back as a per-id error entry; ids left unresolved when ``time_left``
        runs out are simply missing (the caller polls them again).
        """
        if not ids:
            return []
        deadline = None if time_left is None else time.monotonic() + time_left
        return self._states(list(ids), deadline)

    def _states(self, ids: list[str], deadline: float | None) -> list[StateEntry]:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise NetworkError("no time left for the state request", code="timeout")
        body = build_state_request(login=self._login, password=self._password, ids=ids)
        answer = self._post("state", self.state_url, body, left)
        try:
            entries = self._redacting(parse_state_response, answer)
        except GatewayRejected as exc:
            if exc.code in _WHOLE_REQUEST_ERRORS:
                raise
            if len(ids) == 1:
                return [StateEntry(id_sms=ids[0], status=None, error=exc.message)]
            found: list[StateEntry] = []
            middle = len(ids) // 2
            for half in (ids[:middle], ids[middle:]):
                try:
                    found += self._states(half, deadline)
                except GatewayError:
                    if not found:
                        raise
                    break
            return found
        return [
            dataclasses.replace(e, error=self._redact(e.error)) if e.error else e for e in entries
        ]

    def balance(self, *, time_left: float | None = None) -> Balance:
        body = build_balance_request(login=self._login, password=self._password)
        answer = self._post("balance", self.balance_url, body, time_left)
        return self._redacting(parse_balance_response, answer)

    @property
    def push_setup_url(self) -> str:
        """``get_state.php`` beside ``state.php``: where the push URL is set."""
        return sibling_url(self.state_url, "/xml/get_state.php")

    def set_push_url(self, url: str | None, *, time_left: float | None = None) -> None:
        """Have the platform POST delivery statuses to ``url`` (None: stop pushing).

        The caller checks the URL (scheme, token); it is sent as given."""
        body = build_set_push_url_request(login=self._login, password=self._password, url=url or "")
        answer = self._post("push_setup", self.push_setup_url, body, time_left)
        self._redacting(parse_set_push_url_response, answer, also=url)

    def _post(self, endpoint: str, url: str, body: bytes, time_left: float | None) -> bytes:
        timeout = self.timeout if time_left is None else self.timeout.capped(time_left)
        started = time.perf_counter()
        try:
            response = self._transport.post(url, body, _HEADERS, timeout, MAX_RESPONSE_BYTES)
        finally:
            if self._observer is not None:
                self._observer(endpoint, time.perf_counter() - started)
        if not 200 <= response.status < 300:
            raise ProtocolError(f"gateway answered HTTP {response.status}", code="http_error")
        return response.body

    def _redact(self, text: str, phone: str | None = None, also: str | None = None) -> str:
        """Gateway texts are kept verbatim, except for anything of ours they might echo: the
        login and password in any letter case, the phone in any spelling, a push URL."""
        text = self._credentials.sub("***", text)
        if phone is not None:
            text = phone_pattern(phone).sub("***", text)
        if also:
            text = text.replace(also, "***")
        return text

    def _redacting(
        self,
        parse: Callable[[bytes], T],
        body: bytes,
        phone: str | None = None,
        also: str | None = None,
    ) -> T:
        try:
            return parse(body)
        except GatewayError as exc:
            message = self._redact(exc.message, phone, also)
            if message != exc.message:
                exc.message = message
                exc.args = (message,)
            raise
