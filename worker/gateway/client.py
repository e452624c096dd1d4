"""The TargetSMS client: one method per API function, one HTTP call per method.

It knows nothing of Celery or Redis and does not retry: ``retry.call_with_retries`` wraps a call
when the caller has a deadline. Secrets stay out of every message it raises and of its repr.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

from ..phone import InvalidPhone, parse_phone
from .errors import (
    DeliveryFailed,
    GatewayError,
    InvalidRequest,
    ProtocolError,
    StatusConnectionError,
)
from .models import Balance, SendResult, StateEntry
from .protocol import (
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
from .transport import RequestsTransport, Timeout, Transport
from .validation import url_problem, validate_code_length, validate_sender, validate_text

__all__ = ["DEFAULT_SEND_URL", "DEFAULT_STATE_URL", "TargetSMSClient"]

T = TypeVar("T")

DEFAULT_SEND_URL = "https://apiagent.ru/password_generation/api.php"
DEFAULT_STATE_URL = "https://sms.targetsms.ru/xml/state.php"

# Initial statuses that mean this send already failed for good.
_FAILED_INITIAL = {
    "not_valid_phone": "phone_invalid",
    "not_deliver": "not_delivered",
    "expired": "expired",
}
_HTTP_HINT = ": the password travels in the body; allow_http=True to override"
_HEADERS = {"Content-Type": CONTENT_TYPE, "Accept": "text/xml"}


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
    ) -> None:
        """``observer(endpoint, seconds)`` is told each HTTP request's duration (failed ones
        too), endpoint being send, state or balance: how metrics see the gateway without this
        package knowing where they go. It must not raise."""
        if not login or not password:
            raise InvalidRequest("login and password must not be empty")
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

    def __repr__(self) -> str:
        return f"TargetSMSClient(send_url={self.send_url!r}, sender={self.sender!r})"

    def close(self) -> None:
        self._transport.close()

    def send_code(
        self, phone: str, *, text: str, code_length: int, time_left: float | None = None
    ) -> SendResult:
        """Ask the gateway to generate and send a code. Raises unless the SMS went out.

        ``time_left`` caps the connect and read timeouts (a retry loop's deadline)."""
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
        result = self._redacting(parse_send_response, answer, secrets=(e164, e164[1:]))
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
        """Statuses of many messages in one request."""
        if not ids:
            return []
        body = build_state_request(login=self._login, password=self._password, ids=ids)
        answer = self._post("state", self.state_url, body, time_left)
        return self._redacting(parse_state_response, answer)

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
        self._redacting(parse_set_push_url_response, answer, secrets=(url or "",))

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

    def _redacting(
        self, parse: Callable[[bytes], T], body: bytes, secrets: Iterable[str] = ()
    ) -> T:
        """Gateway texts are kept verbatim, except for anything of ours they might echo."""
        try:
            return parse(body)
        except GatewayError as exc:
            message = exc.message
            for secret in (self._login, self._password, *secrets):
                if secret and secret in message:
                    message = message.replace(secret, "***")
            if message != exc.message:
                exc.message = message
                exc.args = (message,)
            raise
