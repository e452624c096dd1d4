"""The TargetSMS client (worker.providers.targetsms) against the sandbox over real HTTP on
loopback: what each answer becomes. The retry loop is tested in test_retry.py, the transport's
time limits in test_transport.py; the sandbox's clock is a ``FakeClock``, moved to deliver."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from helpers import LOGIN, PASSWORD, FakeClock, Sandbox, gateway_client

from worker.errors import (
    DeliveryFailed,
    DuplicateRequest,
    GatewayRejected,
    InvalidRequest,
    NetworkError,
    ProtocolError,
    StatusConnectionError,
    TransientError,
)
from worker.providers.models import SendResult
from worker.providers.targetsms import TargetSMSClient, Timeout

TEXT = "TestShop: код {код}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox(sandbox_factory: Callable[..., Sandbox], clock: FakeClock) -> Sandbox:
    """The sandbox on a hand-moved clock: it delivers 300 ms after a send."""
    return sandbox_factory(clock=clock)


@pytest.fixture
def client(sandbox: Sandbox) -> TargetSMSClient:
    return gateway_client(sandbox)


def send(client: TargetSMSClient, phone: str, length: int = 6) -> SendResult:
    return client.send_code(phone, text=TEXT, code_length=length)


def test_success_returns_code_id_and_status(client: TargetSMSClient, sandbox: Sandbox) -> None:
    result = send(client, "+79001234567", length=8)
    assert len(result.code) == 8 and result.code.isdigit()
    assert result.status == "send"
    sms = sandbox.outbox("+79001234567")[-1]
    assert sms["id_sms"] == result.id_sms and sms["code"] == result.code
    assert sms["text"] == TEXT.replace("{код}", result.code)


@pytest.mark.parametrize(
    ("phone", "code", "status"),
    [
        ("+79990000001", "phone_invalid", "not_valid_phone"),
        ("+79990000002", "not_delivered", "not_deliver"),
        ("+79990000003", "expired", "expired"),
    ],
)
def test_failed_initial_status_is_permanent(
    client: TargetSMSClient, phone: str, code: str, status: str
) -> None:
    with pytest.raises(DeliveryFailed) as info:
        send(client, phone)
    assert info.value.code == code and info.value.status == status and info.value.id_sms


@pytest.mark.parametrize(
    ("phone", "code"),
    [
        ("+79990000200", "auth_failed"),
        ("+79990000201", "account_blocked"),
        ("+79990000202", "no_funds"),
        ("+79990000203", "sender_unknown"),
        ("+79990000204", "sender_not_approved"),
        ("+79990000205", "phone_stop_listed"),
        ("+79990000206", "direction_closed"),
        ("+79990000207", "text_rejected"),
        ("+79990000208", "duplicate_request"),
        ("+79990000209", "no_funds"),
        ("+79990000210", "unknown"),
        ("+79990000211", "duplicate_request"),
        ("+79990000212", "no_funds_queued"),
    ],
)
def test_every_gateway_error_text_maps_to_a_stable_code(
    client: TargetSMSClient, phone: str, code: str
) -> None:
    with pytest.raises(GatewayRejected) as info:
        send(client, phone)
    assert info.value.code == code
    assert not info.value.transient
    # Only a refusal after which the SMS may still go out is marked as maybe sent.
    assert info.value.maybe_sent is (code == "no_funds_queued")
    assert any("\u0400" <= ch <= "\u04ff" for ch in info.value.message)  # Russian text kept


@pytest.mark.parametrize("phone", ["+79990000208", "+79990000211"])
def test_a_duplicate_refusal_is_typed_and_carries_the_window(sandbox: Sandbox, phone: str) -> None:
    """The send step waits from our own earlier request for ``retry_after``: the client says
    how long the platform's window is (TARGETSMS_DUPLICATE_WINDOW_SECONDS), the step need not."""
    with pytest.raises(DuplicateRequest) as info:
        send(gateway_client(sandbox, duplicate_window_seconds=42.5), phone)
    assert info.value.retry_after == 42.5 and info.value.code == "duplicate_request"
    with pytest.raises(DuplicateRequest) as info:
        send(gateway_client(sandbox), phone)
    assert info.value.retry_after == 60.0  # the platform's documented minute


@pytest.mark.parametrize("window", [0, -1, float("nan")])
def test_a_duplicate_window_that_is_no_length_is_refused(sandbox: Sandbox, window: float) -> None:
    with pytest.raises(InvalidRequest, match="duplicate window"):
        gateway_client(sandbox, duplicate_window_seconds=window)


def test_wrong_credentials(sandbox: Sandbox) -> None:
    with pytest.raises(GatewayRejected) as info:
        send(gateway_client(sandbox, password="nope"), "+79001234567")
    assert info.value.code == "auth_failed"
    assert "nope" not in str(info.value)


@pytest.mark.parametrize(
    ("phone", "error"),
    [
        ("+79990000101", StatusConnectionError),
        ("+79990000300", NetworkError),
        ("+79990000400", ProtocolError),
        ("+79990000500", ProtocolError),
    ],
)
def test_transient_failures(sandbox: Sandbox, phone: str, error: type[Exception]) -> None:
    # The hanging number waits for the read timeout: a short one there, the usual elsewhere (an
    # answer that the sandbox is slow to give on a loaded machine must not pass for a hang).
    hangs = error is NetworkError
    client = gateway_client(sandbox, timeout=Timeout(connect=1, read=0.1 if hangs else 1))
    with pytest.raises(error) as info:
        send(client, phone)
    assert isinstance(info.value, TransientError)


def test_state_many_ids_in_one_request(
    client: TargetSMSClient, sandbox: Sandbox, clock: FakeClock
) -> None:
    sent = [send(client, f"+7900123{n:04d}") for n in range(5)]
    pending = send(client, "+79990000007")
    before = sandbox.stats()["state"]
    clock.advance(0.4)  # the sandbox delivers after 300 ms
    entries = {
        e.id_sms: e for e in client.get_state([s.id_sms for s in sent] + [pending.id_sms, "999"])
    }
    assert sandbox.stats()["state"] == before + 1
    assert all(entries[s.id_sms].status == "deliver" for s in sent)
    assert entries[pending.id_sms].status == "send"
    assert entries["999"].error and entries["999"].status is None


def test_balance(client: TargetSMSClient) -> None:
    before = client.balance()
    send(client, "+79001234567")
    after = client.balance()
    assert after.money < before.money and after.currency


def test_validation_before_any_request(client: TargetSMSClient, sandbox: Sandbox) -> None:
    for phone in ("79001234567", "+7 900 abc 45 67", "+7900", "8 (900) 123-45-67", "+1800FLOWERS"):
        with pytest.raises(InvalidRequest) as info:
            send(client, phone)
        assert info.value.code == "invalid_phone"
    with pytest.raises(InvalidRequest):
        client.send_code("+79001234567", text="TestShop без кода", code_length=6)
    with pytest.raises(InvalidRequest):
        client.send_code("+79001234567", text="Код {код}", code_length=6)  # no service name
    for length in (3, 11):
        with pytest.raises(InvalidRequest):
            send(client, "+79001234567", length=length)
    for sender in ("", "ThisIsTooLongName", "1234567890123456", "Имя"):
        with pytest.raises(InvalidRequest):
            gateway_client(sandbox, sender=sender)
    assert sandbox.stats()["password_generation"] == 0


def test_plain_http_is_refused_unless_loopback_or_allowed() -> None:
    options = {"login": "l", "password": "p", "sender": "target", "service_name": "S"}
    with pytest.raises(InvalidRequest, match="http"):
        TargetSMSClient(**options, send_url="http://apiagent.ru/password_generation/api.php")  # type: ignore[arg-type]
    TargetSMSClient(
        **options,  # type: ignore[arg-type]
        send_url="http://apiagent.ru/password_generation/api.php",
        state_url="http://sms.targetsms.ru/xml/state.php",
        allow_http=True,
    )


def test_secrets_stay_out_of_reprs(client: TargetSMSClient) -> None:
    assert PASSWORD not in repr(client) and LOGIN not in repr(client)
    assert "code=" not in repr(send(client, "+79001234567"))


def test_state_outcomes_of_every_magic_number(client: TargetSMSClient, clock: FakeClock) -> None:
    expected = {
        "+79990000004": "partly_deliver",
        "+79990000005": "not_deliver",
        "+79990000006": "expired",
        "+79990000007": "send",
        "+79990000008": "read",
    }
    ids = {phone: send(client, phone).id_sms for phone in expected}
    error_id = send(client, "+79990000600").id_sms
    clock.advance(0.4)
    entries = {e.id_sms: e for e in client.get_state([*ids.values(), error_id])}
    assert {phone: entries[i].status for phone, i in ids.items()} == expected
    assert entries[error_id].status is None and entries[error_id].error


@pytest.mark.parametrize(
    "phone",
    ["+79990000803", "+79990000903"],  # sent, then the answer truncated | with a 1-digit code
)
def test_an_unreadable_answer_after_the_sms_went_out_may_have_cost_one(
    client: TargetSMSClient, sandbox: Sandbox, phone: str
) -> None:
    with pytest.raises(ProtocolError) as info:
        send(client, phone)
    assert info.value.maybe_sent  # the retry loop spends its small budget on these
    assert len(sandbox.outbox(phone)) == 1


def test_a_short_code_is_never_taken_for_a_code(client: TargetSMSClient, sandbox: Sandbox) -> None:
    with pytest.raises(ProtocolError, match="1-digit code, 6 were asked for"):
        send(client, "+79990000900")
    with pytest.raises(ProtocolError):
        send(client, "+79990000901")  # short once, then a real one
    result = send(client, "+79990000901")
    assert len(result.code) == 6 and result.code == sandbox.last_code("+79990000901")


def test_state_survives_a_request_level_error_for_the_whole_batch(
    sandbox_factory: Callable[..., Sandbox], clock: FakeClock
) -> None:
    sandbox = sandbox_factory(clock=clock, state_batch_error=True)
    client = gateway_client(sandbox)
    sent = [send(client, f"+7900123{n:04d}").id_sms for n in range(6)]
    broken = send(client, "+79990000600").id_sms  # its state always errors
    clock.advance(0.4)  # the sandbox delivers after 300 ms
    ids = [sent[0], "999", *sent[1:4], broken, *sent[4:]]
    before = sandbox.stats()["state"]
    entries = {e.id_sms: e for e in client.get_state(ids)}
    assert {i: entries[i].status for i in sent} == dict.fromkeys(sent, "deliver")
    for unknown in ("999", broken):
        assert entries[unknown].status is None and "не найдено" in (entries[unknown].error or "")
    # Halving: far fewer requests than one per id.
    assert sandbox.stats()["state"] - before <= 2 * 2 * 4
    # Credentials are a whole-request error: no splitting, one request, raised.
    before = sandbox.stats()["state"]
    with pytest.raises(GatewayRejected) as info:
        gateway_client(sandbox, password="nope").get_state(ids)
    assert info.value.code == "auth_failed" and sandbox.stats()["state"] == before + 1


def test_state_with_per_id_errors_is_one_request(client: TargetSMSClient, sandbox: Sandbox) -> None:
    good = send(client, "+79001234567").id_sms
    before = sandbox.stats()["state"]
    entries = {e.id_sms: e for e in client.get_state([good, "999"])}
    assert entries["999"].error and entries[good].status
    assert sandbox.stats()["state"] == before + 1


def _echoing_gateway(text: str) -> tuple[str, Callable[[], None]]:
    """A gateway that answers every request with ``<error>text</error>``."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread
    from xml.sax.saxutils import escape

    body = f"<response><error>{escape(text)}</error></response>".encode()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # A short poll: shutdown() waits for the next one (half a second by default).
    Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return f"http://127.0.0.1:{server.server_address[1]}", stop


@pytest.mark.parametrize(
    "spelling",
    ["+79001234567", "79001234567", "89001234567", "+7 (900) 123-45-67", "8-900-123-45-67",
     "7 900 123 45 67", "9001234567"],
)  # fmt: skip
def test_gateway_texts_are_redacted_in_every_spelling(spelling: str) -> None:
    text = (
        f"Номер {spelling} отклонён для {LOGIN.upper()} / {PASSWORD.swapcase()} "
        f"({LOGIN}, {PASSWORD}); лимит 50 SMS, код 4242"
    )
    url, stop = _echoing_gateway(text)
    try:
        client = TargetSMSClient(
            login=LOGIN, password=PASSWORD, sender="target", service_name="TestShop",
            send_url=f"{url}/password_generation/api.php", state_url=f"{url}/xml/state.php",
        )  # fmt: skip
        with pytest.raises(GatewayRejected) as info:
            send(client, "+79001234567")
        # A request-level <error> about one id comes back as that id's error entry.
        (entry,) = client.get_state(["1"])
    finally:
        stop()
    message = info.value.message
    assert message == "Номер *** отклонён для *** / *** (***, ***); лимит 50 SMS, код 4242"
    assert str(info.value) == message
    # A state call names no phone, so only the credentials are ours to strip there.
    expected = text
    for secret in (LOGIN.upper(), PASSWORD.swapcase(), LOGIN, PASSWORD):
        expected = expected.replace(secret, "***")
    assert entry.error == expected
