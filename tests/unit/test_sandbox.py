"""The sandbox gateway over real HTTP on loopback, with request XML written by hand from the guide.

Nothing here uses our gateway client: the sandbox is checked against the documented wire format,
so that it can later catch the client's mistakes.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import guide_samples
import pytest
import requests
from helpers import FakeClock
from lxml import etree

from worker.dev.sandbox import (
    MAGIC_PHONES,
    RunningSandbox,
    SandboxConfig,
    describe_magic_phones,
    start_in_thread,
)

ROOT = Path(__file__).resolve().parents[2]
XML = {"Content-Type": "text/xml; charset=utf-8"}
DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'

# The guide's request, verbatim (shared with the protocol tests).
GUIDE_REQUEST = guide_samples.GUIDE_REQUEST.decode().rstrip("\n")

STATE_REQUEST = """<?xml version="1.0" encoding="utf-8"?>
<request>
  <security>
    <login value="LOGIN" />
    <password value="PASSWORD" />
  </security>
  <get_state>
IDS  </get_state>
</request>"""

BALANCE_REQUEST = """<?xml version="1.0" encoding="utf-8"?>
<request>
  <security>
    <login value="LOGIN" />
    <password value="PASSWORD" />
  </security>
</request>"""

GUIDE_PASSWORD = "PASSWORD"
TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def send_request(
    phone: str = "+79001234567",
    *,
    login: str = "LOGIN",
    password: str = GUIDE_PASSWORD,
    length: str | None = "4",
    text: str | None = "Временный пароль: {код}",
) -> bytes:
    body = GUIDE_REQUEST.replace("+79001234567", phone)
    body = body.replace("<login>LOGIN<", f"<login>{login}<")
    body = body.replace("<password>PASSWORD<", f"<password>{password}<")
    line = "  <random_string_len>4</random_string_len>\n"
    body = body.replace(line, "" if length is None else line.replace(">4<", f">{length}<"))
    line = "  <text>Временный пароль: {код}</text>\n"
    body = body.replace(line, "" if text is None else line.replace("Временный пароль: {код}", text))
    return body.encode()


def state_request(*ids: str) -> bytes:
    return STATE_REQUEST.replace(
        "IDS", "".join(f"    <id_sms>{i}</id_sms>\n" for i in ids)
    ).encode()


def post(url: str, body: bytes, timeout: float = 5.0) -> requests.Response:
    return requests.post(url, data=body, headers=XML, timeout=timeout)


def root_of(response: requests.Response) -> etree._Element:
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    root = etree.fromstring(response.content)
    assert root.tag == "response"
    return root


def send(sb: RunningSandbox, phone: str = "+79001234567", **kw: Any) -> etree._Element:
    """The single child of the send answer: ``<success>`` or ``<error>``."""
    (child,) = root_of(post(f"{sb.url}/password_generation/api.php", send_request(phone, **kw)))
    return child


def ok(sb: RunningSandbox, phone: str = "+79001234567", **kw: Any) -> dict[str, str]:
    child = send(sb, phone, **kw)
    assert child.tag == "success", child.text
    return dict(child.attrib)


def error_text(sb: RunningSandbox, phone: str = "+79001234567", **kw: Any) -> str:
    child = send(sb, phone, **kw)
    assert child.tag == "error"
    return child.text or ""


def states(sb: RunningSandbox, *ids: str) -> list[etree._Element]:
    return list(root_of(post(f"{sb.url}/xml/state.php", state_request(*ids))))


def outbox(sb: RunningSandbox, query: str = "") -> list[dict[str, object]]:
    response = requests.get(f"{sb.url}/sandbox/outbox{query}", timeout=5)
    assert response.status_code == 200
    messages: list[dict[str, object]] = response.json()["messages"]
    return messages


def stats(sb: RunningSandbox) -> dict[str, int]:
    result: dict[str, int] = requests.get(f"{sb.url}/sandbox/stats", timeout=5).json()
    return result


def standard_config() -> SandboxConfig:
    # The duplicate rule off: these tests repeat one request; the rule has tests of its own.
    return SandboxConfig(
        login="LOGIN", password="PASSWORD", deliver_after_ms=300, seed=1, duplicate_window_ms=0
    )


@pytest.fixture(scope="module")
def server() -> Iterator[RunningSandbox]:
    with start_in_thread(standard_config()) as running:
        yield running


@pytest.fixture
def sb(server: RunningSandbox) -> RunningSandbox:
    assert requests.post(f"{server.url}/sandbox/reset", timeout=5).json() == {"reset": True}
    return server


# -- password_generation ---------------------------------------------------------------------


def test_guide_request_gets_guide_shaped_success(sb: RunningSandbox) -> None:
    response = post(f"{sb.url}/password_generation/api.php", GUIDE_REQUEST.encode())
    text = response.content.decode()
    assert text.startswith(DECLARATION + "<response>\n  <success code=")
    assert re.fullmatch(
        re.escape(DECLARATION)
        + r'<response>\n  <success code="\d{4}" id_sms="\d+" status="send" />\n'
        r"</response>\n",
        text,
    )
    (success,) = root_of(response)
    assert success.get("status") == "send"
    (message,) = outbox(sb)
    assert message["code"] == success.get("code")
    assert message["id_sms"] == success.get("id_sms")
    assert message["text"] == f"Временный пароль: {success.get('code')}"
    assert message["sender"] == "target"


def test_code_length_follows_random_string_len_and_ids_are_unique(sb: RunningSandbox) -> None:
    for length in ("1", "6", "10", " 7 "):
        code = ok(sb, length=length)["code"]
        assert code.isdigit() and len(code) == int(length)
    assert len(ok(sb, length=None)["code"]) == 4  # the guide's default
    ids = [ok(sb)["id_sms"] for _ in range(30)]
    assert len(set(ids)) == len(ids)
    assert all(i.isdigit() for i in ids)


def test_default_text_when_text_is_absent(sb: RunningSandbox) -> None:
    code = ok(sb, text=None)["code"]
    assert outbox(sb)[0]["text"] == f"Временный пароль: {code}"


def test_code_substituted_everywhere_in_text(sb: RunningSandbox) -> None:
    code = ok(sb, text="Example.com: код {код}. Никому не говорите {код}")["code"]
    assert outbox(sb)[0]["text"] == f"Example.com: код {code}. Никому не говорите {code}"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", "POST данные отсутствуют"),
        (b"   \n", "POST данные отсутствуют"),
        (b"phone=+79001234567", "Неправильный формат XML документа"),
        (GUIDE_REQUEST.encode()[:-5], "Неправильный формат XML документа"),
        (b"<?xml version='1.0'?><answer/>", "Неправильный формат XML документа"),
        (
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "LOGIN">]>'
            + GUIDE_REQUEST.encode().split(b"?>", 1)[1],
            "Неправильный формат XML документа",
        ),
        (send_request(password="WRONG"), "Неверный логин или пароль"),
        (send_request(login="login"), "Неверный логин или пароль"),
        (send_request(login=""), "Неверный логин или пароль"),
        (send_request(phone=""), "Укажите номер телефона."),
        (send_request(phone="+790012345678901"), "Номер телефона должен быть меньше 15 символов."),
        (send_request(length="0"), "random_string_len"),
        (send_request(length="11"), "random_string_len"),
        (send_request(length="four"), "random_string_len"),
        (send_request(length="-1"), "random_string_len"),
        (send_request(text="Ваш код 1234"), "{код}"),
        (send_request().replace(b"<sender>target</sender>", b""), "Нет отправителя."),
    ],
)
def test_bad_send_requests_answer_russian_error_with_http_200(
    sb: RunningSandbox, body: bytes, expected: str
) -> None:
    (child,) = root_of(post(f"{sb.url}/password_generation/api.php", body))
    assert child.tag == "error"
    assert expected in (child.text or "")
    assert outbox(sb) == []


@pytest.mark.parametrize(
    "phone", ["+7 900 1234567", "+7(900)1234567", "+7900abc4567", "+7", "+٧٩٠", "++79001234567"]
)
def test_phone_junk_is_refused(sb: RunningSandbox, phone: str) -> None:
    assert "Неверный формат номера телефона" in error_text(sb, phone)


def test_phone_with_or_without_plus_is_one_recipient(sb: RunningSandbox) -> None:
    """The guide sends ``+7…``; the official PHP sample strips the ``+``."""
    plain = ok(sb, "79001234567")
    plus = ok(sb, "+79001234567")
    messages = outbox(sb, "?phone=%2B79001234567")
    assert [m["id_sms"] for m in messages] == [plain["id_sms"], plus["id_sms"]]
    assert {m["phone"] for m in messages} == {"+79001234567"}


def test_empty_text_gets_the_default_text(sb: RunningSandbox) -> None:
    for text in ("", " "):
        code = ok(sb, text=text)["code"]
        assert outbox(sb)[-1]["text"] == f"Временный пароль: {code}"


def test_get_on_api_path_reads_as_no_post_data(sb: RunningSandbox) -> None:
    response = requests.get(f"{sb.url}/password_generation/api.php", timeout=5)
    assert root_of(response)[0].text == "POST данные отсутствуют"


def test_any_non_empty_credentials_when_none_configured() -> None:
    with start_in_thread(SandboxConfig()) as sb:
        assert ok(sb, login="someone", password="anything")["status"] == "send"
        assert error_text(sb, login="someone", password="") == "Неверный логин или пароль"


# -- magic phones ----------------------------------------------------------------------------


def test_magic_table_is_documented_and_well_formed() -> None:
    table = describe_magic_phones()
    for phone, entry in MAGIC_PHONES.items():
        assert re.fullmatch(r"\+7999000\d{4}", phone)
        assert entry.doc and f"`{phone}`" in table
    assert len(MAGIC_PHONES) == 8 + 9 + 13 + 3 * 10 + 1 + 3 * 10


def test_invented_texts_are_marked_and_documented_ones_are_used() -> None:
    from worker.dev.sandbox import magic

    documented = {
        "POST данные отсутствуют", "Неправильный формат XML документа",
        "Неправильный логин или пароль", "Укажите номер телефона.", "Закончились SMS.",
        "Номер телефона должен быть меньше 15 символов.",
    }  # fmt: skip
    texts = {v for k, v in vars(magic).items() if k.startswith("E_")}
    assert documented <= texts
    assert texts >= magic.INVENTED_TEXTS and not documented & magic.INVENTED_TEXTS


@pytest.mark.parametrize(
    ("phone", "status", "in_outbox"),
    [
        ("+79990000001", "not_valid_phone", False),
        ("+79990000002", "not_deliver", True),
        ("+79990000003", "expired", True),
    ],
)
def test_magic_initial_statuses(
    sb: RunningSandbox, phone: str, status: str, in_outbox: bool
) -> None:
    success = ok(sb, phone)
    assert success["status"] == status
    assert [m["id_sms"] for m in outbox(sb)] == ([success["id_sms"]] if in_outbox else [])
    (state,) = states(sb, success["id_sms"])
    assert state.text == status
    assert TIME.fullmatch(state.get("time", ""))


def test_state_turns_after_deliver_after_ms_per_magic_phone() -> None:
    clock = FakeClock()
    with start_in_thread(standard_config(), clock) as sb:
        _states_turn(sb, clock)


def _states_turn(sb: RunningSandbox, clock: FakeClock) -> None:
    expected = {
        "+79001234567": "deliver",
        "+79990000004": "partly_deliver",
        "+79990000005": "not_deliver",
        "+79990000006": "expired",
        "+79990000007": "send",
        "+79990000008": "read",
    }
    ids = {ok(sb, phone)["id_sms"]: final for phone, final in expected.items()}
    early = states(sb, *ids)
    assert [s.text for s in early] == ["send"] * len(ids)
    assert all(s.get("time") == "" for s in early)
    assert all(m["status_changed_at"] is None for m in outbox(sb))
    clock.advance(0.45)  # deliver_after_ms=300
    late = states(sb, *ids)
    assert [(s.get("id_sms"), s.text) for s in late] == list(ids.items())
    for element in late:
        if element.text != "send":
            assert TIME.fullmatch(element.get("time", ""))
            assert element.get("num_parts") == "1"
            assert element.get("price") == "1.15"
    by_id = {m["id_sms"]: m for m in outbox(sb)}
    assert {i: by_id[i]["status"] for i in ids} == ids


def test_state_batch_with_unknown_ids(sb: RunningSandbox) -> None:
    ids = [ok(sb, f"+7900123450{n}")["id_sms"] for n in range(5)]
    answer = states(sb, ids[0], "999", *ids[1:], "abc")
    assert [e.tag for e in answer] == [
        "state",
        "error",
        "state",
        "state",
        "state",
        "state",
        "error",
    ]
    assert [e.get("id_sms") for e in answer] == [ids[0], "999", *ids[1:], "abc"]
    assert answer[1].text == "Сообщение с таким ID не найдено"
    assert stats(sb)["state_ids"] == 7


def test_magic_0600_state_answers_per_id_error(sb: RunningSandbox) -> None:
    id_sms = ok(sb, "+79990000600")["id_sms"]
    normal = ok(sb)["id_sms"]
    answer = states(sb, id_sms, normal)
    assert (answer[0].tag, answer[0].get("id_sms")) == ("error", id_sms)
    assert (answer[1].tag, answer[1].text) == ("state", "send")


@pytest.mark.parametrize("n", [1, 3, 9])
def test_connection_error_first_n_times_then_success(sb: RunningSandbox, n: int) -> None:
    phone = f"+7999000010{n}"
    for _ in range(n):
        failed = ok(sb, phone)
        assert failed["status"] == "connection_error"
        assert len(failed["code"]) == 4 and failed["id_sms"].isdigit()
    success = ok(sb, phone)
    assert success["status"] == "send"
    assert [m["id_sms"] for m in outbox(sb)] == [success["id_sms"]]
    requests.post(f"{sb.url}/sandbox/reset", timeout=5)
    assert ok(sb, phone)["status"] == "connection_error"  # the counter starts again


@pytest.mark.parametrize(
    ("suffix", "text"),
    [
        ("0200", "Неверный логин или пароль"),
        ("0201", "Аккаунт заблокирован."),
        ("0202", "Недостаточно средств для отправки SMS."),
        ("0203", "Такого отправителя Нет."),
        ("0204", "Отправитель не прошел модерацию."),
        ("0205", "Номер телефона присутствует в стоп-листе."),
        ("0206", "Данное направление закрыто для вас."),
        ("0207", "Текст SMS отклонен модератором."),
        ("0208", "Попытка отправки более одного одинакового запроса в течение минуты"),
        ("0209", "Закончились SMS."),
        ("0210", "Внутренняя ошибка"),
        ("0211", "Данное сообщение уже было отправлено."),
        (
            "0212",
            "Недостаточно средств для отправки SMS. "
            "SMS будет отправлена как только вы пополните счет.",
        ),
    ],
)
def test_magic_error_texts(sb: RunningSandbox, suffix: str, text: str) -> None:
    assert error_text(sb, f"+7999000{suffix}") == text
    assert error_text(sb, f"+7999000{suffix}") == text  # every time, not just once
    assert outbox(sb) == []


def test_hang_until_client_gives_up_then_success(sb: RunningSandbox) -> None:
    url = f"{sb.url}/password_generation/api.php"
    with pytest.raises(requests.ReadTimeout):
        post(url, send_request("+79990000300"), timeout=0.15)
    for _ in range(2):
        with pytest.raises(requests.ReadTimeout):
            post(url, send_request("+79990000302"), timeout=0.15)
    assert ok(sb, "+79990000302")["status"] == "send"
    assert len(outbox(sb)) == 1
    assert requests.get(f"{sb.url}/healthz", timeout=1).text == "ok"  # hangs block nobody else


def close_wait_sockets(port: int) -> int:
    """Server-side sockets whose client has gone but which the server has not closed."""
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    fields = [line.split() for line in lines]
    return sum(1 for f in fields if f[1].endswith(f":{port:04X}") and f[3] == "08")


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc/net/tcp")
def test_hang_ends_when_client_gives_up(sb: RunningSandbox) -> None:
    for _ in range(3):
        with pytest.raises(requests.ReadTimeout):
            post(f"{sb.url}/password_generation/api.php", send_request("+79990000300"), 0.1)
    deadline = time.monotonic() + 2
    while close_wait_sockets(sb.port) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert close_wait_sockets(sb.port) == 0


def test_html_502_always_and_first_n_times(sb: RunningSandbox) -> None:
    url = f"{sb.url}/password_generation/api.php"
    for _ in range(2):
        response = post(url, send_request("+79990000400"))
        assert response.status_code == 502
        assert response.headers["Content-Type"].startswith("text/html")
        assert b"<html>" in response.content and b"502 Bad Gateway" in response.content
    assert post(url, send_request("+79990000401")).status_code == 502
    assert ok(sb, "+79990000401")["status"] == "send"
    assert len(outbox(sb)) == 1


def test_malformed_xml_always_and_first_n_times(sb: RunningSandbox) -> None:
    url = f"{sb.url}/password_generation/api.php"
    for phone in ("+79990000500", "+79990000500", "+79990000502", "+79990000502"):
        response = post(url, send_request(phone))
        assert response.status_code == 200
        assert response.content.startswith(DECLARATION.encode())
        with pytest.raises(etree.XMLSyntaxError):
            etree.fromstring(response.content)
    assert ok(sb, "+79990000502")["status"] == "send"
    assert len(outbox(sb)) == 1


# -- state / balance requests ----------------------------------------------------------------


def test_state_and_balance_take_credentials_as_attributes(sb: RunningSandbox) -> None:
    id_sms = ok(sb)["id_sms"]
    as_elements = state_request(id_sms).replace(b'<login value="LOGIN" />', b"<login>LOGIN</login>")
    for url, body in [
        (f"{sb.url}/xml/state.php", as_elements),
        (f"{sb.url}/xml/state.php", state_request(id_sms).replace(b"PASSWORD", b"nope")),
        (f"{sb.url}/xml/balance.php", BALANCE_REQUEST.replace("LOGIN", "x").encode()),
    ]:
        (child,) = root_of(post(url, body))
        assert (child.tag, child.text) == ("error", "Неправильный логин или пароль")
    for url in (f"{sb.url}/xml/state.php", f"{sb.url}/xml/balance.php"):
        assert root_of(post(url, b""))[0].text == "POST данные отсутствуют"
        assert root_of(post(url, b"<request>"))[0].text == "Неправильный формат XML документа"
    (child,) = root_of(post(f"{sb.url}/xml/state.php", state_request()))
    assert child.tag == "error"


def balance(sb: RunningSandbox) -> tuple[Decimal, int]:
    money, sms = root_of(post(f"{sb.url}/xml/balance.php", BALANCE_REQUEST.encode()))
    assert (money.tag, money.get("currency"), sms.tag, sms.get("area")) == (
        "money",
        "RUR",
        "sms",
        "Россия",
    )
    return Decimal(money.text or ""), int(sms.text or "")


def test_balance_goes_down_per_sms_part(sb: RunningSandbox) -> None:
    assert balance(sb) == (Decimal("1000.00"), 869)
    ok(sb)
    ok(sb)
    assert balance(sb)[0] == Decimal("997.70")
    ok(sb, text="Сайт example.ru. " + "Ж" * 60 + " {код}")  # 81 UCS-2 characters: 2 parts
    assert balance(sb)[0] == Decimal("995.40")
    ok(sb, "+79990000001")  # not_valid_phone: nothing went out, nothing charged
    ok(sb, "+79990000101")  # connection_error: idem
    error_text(sb, password="bad")
    assert balance(sb) == (Decimal("995.40"), 865)
    requests.post(f"{sb.url}/sandbox/reset", timeout=5)
    assert balance(sb)[0] == Decimal("1000.00")


def test_insufficient_funds_when_balance_runs_out() -> None:
    with start_in_thread(SandboxConfig(balance=Decimal("2.40"))) as sb:
        ok(sb, "+79001234567")
        ok(sb, "+79001234568")
        assert error_text(sb, "+79001234569") == "Закончились SMS."
        assert balance(sb) == (Decimal("0.10"), 0)


# -- sandbox-only endpoints ------------------------------------------------------------------


def test_outbox_filter_and_reset(sb: RunningSandbox) -> None:
    first = ok(sb, "+79001110000")["id_sms"]
    ok(sb, "+79002220000")
    third = ok(sb, "+79001110000")["id_sms"]
    assert len(outbox(sb)) == 3
    filtered = outbox(sb, "?phone=%2B79001110000")
    assert [m["id_sms"] for m in filtered] == [first, third]
    assert outbox(sb, "?phone=+79001110000") == filtered  # an unencoded + is forgiven
    assert outbox(sb, "?phone=%2B70000000000") == []
    assert set(filtered[0]) == {
        "phone",
        "sender",
        "text",
        "code",
        "id_sms",
        "status",
        "sent_at",
        "status_changed_at",
    }
    assert requests.post(f"{sb.url}/sandbox/reset", timeout=5).status_code == 200
    assert outbox(sb) == []
    assert stats(sb) == {"password_generation": 0, "state": 0, "balance": 0, "state_ids": 0}
    (gone,) = states(sb, first)  # the message store is cleared too
    assert gone.tag == "error"


def test_stats_count_requests_per_endpoint(sb: RunningSandbox) -> None:
    ids = [ok(sb)["id_sms"] for _ in range(3)]
    error_text(sb, password="bad")
    states(sb, *ids)
    states(sb, *ids, "1", "2")
    balance(sb)
    assert stats(sb) == {"password_generation": 4, "state": 2, "balance": 1, "state_ids": 8}


def test_healthz_404_and_405(sb: RunningSandbox) -> None:
    health = requests.get(f"{sb.url}/healthz", timeout=5)
    assert (health.status_code, health.text) == (200, "ok")
    assert requests.get(f"{sb.url}/nope", timeout=5).status_code == 404
    wrong = requests.get(f"{sb.url}/sandbox/reset", timeout=5)
    assert (wrong.status_code, wrong.headers["Allow"]) == (405, "POST")


# -- the pusher reads acknowledgements as strictly as requests ----------------------------


@pytest.mark.parametrize(
    ("body", "acked"),
    [
        (b"<response><id_sms>7</id_sms><id_sms> 8 </id_sms></response>", {"7", "8"}),
        (DECLARATION.encode() + b"<response/>", set()),
        (b"<request><id_sms>7</id_sms></request>", set()),  # not an answer
        (b"<html><id_sms>7</id_sms></html>", set()),  # a proxy's page
        (b'<?xml version="1.0" encoding="windows-1251"?><response><id_sms>7</id_sms></response>',
         set()),
        (b'<!DOCTYPE r [<!ENTITY e "7">]><response><id_sms>&e;</id_sms></response>', set()),
        (b"<response><id_sms>7</id_sms>", set()),  # cut short
        (b"<response>" + b" " * (1024 * 1024) + b"<id_sms>7</id_sms></response>", set()),
    ],
)  # fmt: skip
def test_an_acknowledgement_counts_only_as_a_well_formed_response(
    body: bytes, acked: set[str]
) -> None:
    from worker.dev.sandbox.push import acknowledged

    assert acknowledged(body) == acked


# -- HTTP behaviour, knobs, CLI --------------------------------------------------------------


def test_keep_alive_pipelining_and_chunked_body(sb: RunningSandbox) -> None:
    body = send_request()
    head = (
        "POST /password_generation/api.php HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: text/xml; charset=utf-8\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", sb.port), timeout=5) as sock:
        sock.sendall((head + body) * 2)  # two requests in one write, on one connection
        data = b""
        while data.count(b"</response>") < 2:
            chunk = sock.recv(65536)
            assert chunk, "server closed a keep-alive connection"
            data += chunk
    assert data.count(b"HTTP/1.1 200 OK\r\n") == 2
    assert len(set(re.findall(rb'id_sms="(\d+)"', data))) == 2

    def chunks() -> Iterator[bytes]:
        yield body[:50]
        yield body[50:]

    response = requests.post(
        f"{sb.url}/password_generation/api.php", data=chunks(), headers=XML, timeout=5
    )
    assert root_of(response)[0].tag == "success"
    assert len(outbox(sb)) == 3


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"POST /xml/state.php HTTP/1.1\r\nContent-Length: ten\r\n\r\n", 400),
        (b"POST /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST /x HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", 413),
        (b"GET /healthz HTTP/2.0\r\n\r\n", 505),
        (b"NONSENSE\r\n\r\n", 400),
    ],
)
def test_broken_http_is_refused_and_connection_closed(
    sb: RunningSandbox, head: bytes, status: int
) -> None:
    with socket.create_connection(("127.0.0.1", sb.port), timeout=5) as sock:
        sock.sendall(head)
        data = b""
        while chunk := sock.recv(65536):  # the server closes: recv returns b""
            data += chunk
    assert data.startswith(f"HTTP/1.1 {status} ".encode())
    assert b"\r\nConnection: close\r\n" in data


def test_latency_knob_delays_api_answers_only() -> None:
    with start_in_thread(SandboxConfig(latency_ms=150)) as sb:
        start = time.perf_counter()
        ok(sb)
        assert 0.14 <= time.perf_counter() - start < 1.0
        start = time.perf_counter()
        requests.get(f"{sb.url}/sandbox/outbox", timeout=5)
        assert time.perf_counter() - start < 0.1


def test_fault_rates_are_random_but_seeded_and_spare_magic_phones() -> None:
    def run_once() -> list[int]:
        config = SandboxConfig(html_rate=0.3, malformed_rate=0.3, seed=42, duplicate_window_ms=0)
        with start_in_thread(config) as sb:
            url = f"{sb.url}/password_generation/api.php"
            codes = [post(url, send_request()).status_code for _ in range(40)]
            assert ok(sb, "+79990000002")["status"] == "not_deliver"
            return codes

    first = run_once()
    assert first == run_once()
    assert 4 <= first.count(502) <= 24 and first.count(200) >= 16
    with start_in_thread(SandboxConfig(connection_error_rate=1.0)) as sb:
        assert ok(sb)["status"] == "connection_error"
        assert outbox(sb) == []


def test_config_rejects_inconsistent_knobs() -> None:
    with pytest.raises(ValueError):
        SandboxConfig(hang_rate=0.6, html_rate=0.6)
    with pytest.raises(ValueError):
        SandboxConfig(login="only-login")
    with pytest.raises(ValueError):
        SandboxConfig(latency_ms=-1)


# -- the duplicate rule, answers that lie, the official PHP sample ----------------------------


def _engine(clock: list[float], **config: Any) -> Any:
    from worker.dev.sandbox.engine import Engine

    config = {"login": "LOGIN", "password": "PASSWORD", "seed": 1, **config}
    return Engine(SandboxConfig(**config), clock=lambda: clock[0])


def _answer_tag(answer: Any) -> tuple[str, str]:
    (child,) = etree.fromstring(answer.xml)
    return child.tag, child.text or ""


def test_identical_request_within_a_minute_is_refused_on_the_clock() -> None:
    clock = [1000.0]
    engine = _engine(clock, login=None, password=None)  # any account; the rule is on by default
    first = engine.password_generation(send_request())
    assert _answer_tag(first)[0] == "success"
    clock[0] += 59.9
    tag, text = _answer_tag(engine.password_generation(send_request()))
    assert tag == "error"
    assert text == "Попытка отправки более одного одинакового запроса в течение минуты"
    # The same recipient however the number is spelt; any other field makes it another request.
    assert _answer_tag(engine.password_generation(send_request("79001234567")))[0] == "error"
    for other in (
        send_request("+79001234568"),
        send_request(length="5"),
        send_request(text="Другой текст {код}"),
        send_request().replace(b">target<", b">target2<"),
        send_request(login="other"),
    ):
        assert _answer_tag(engine.password_generation(other))[0] == "success"
    clock[0] += 0.1  # 60 s after the accepted one
    assert _answer_tag(engine.password_generation(send_request()))[0] == "success"
    assert len(engine.outbox("+79001234567")) == 1 + 4 + 1  # none of the refused ones


def test_only_accepted_requests_open_the_window() -> None:
    clock = [0.0]
    engine = _engine(clock)
    body = send_request("+79990000101")  # connection_error first: nothing went out
    assert b'status="connection_error"' in engine.password_generation(body).xml
    assert b'status="send"' in engine.password_generation(body).xml
    assert _answer_tag(engine.password_generation(body))[0] == "error"
    refused = send_request(password="WRONG")
    for _ in range(2):
        assert _answer_tag(engine.password_generation(refused)) == (
            "error",
            "Неверный логин или пароль",
        )


def test_duplicate_rule_is_on_over_http_by_default_and_off_on_request() -> None:
    with start_in_thread(SandboxConfig()) as sb:
        ok(sb)
        assert "одинакового запроса" in error_text(sb)
        assert len(outbox(sb)) == 1
    with start_in_thread(SandboxConfig(duplicate_window_ms=0)) as sb:
        ok(sb)
        ok(sb)


def test_cli_flags_for_the_new_knobs() -> None:
    import argparse

    from worker.dev.sandbox import add_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    default = config_from_args(parser.parse_args([]))
    assert (default.duplicate_window_ms, default.state_batch_error) == (60_000, False)
    config = config_from_args(
        parser.parse_args(["--no-duplicate-window", "--state-batch-error", "--trickle-ms", "20"])
    )
    assert config.duplicate_window_ms == 0 and config.state_batch_error
    assert config.trickle_ms == 20


def _raw_exchange(port: int, request: bytes, timeout: float = 10) -> tuple[bytes, list[float]]:
    """Send ``request`` on a fresh socket; return the answer and when each read arrived."""
    arrivals: list[float] = []
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        started = time.monotonic()
        while b"\r\n\r\n" not in data or not data.endswith(b"</response>\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            arrivals.append(time.monotonic() - started)
    return data, arrivals


def _http(body: bytes, content_type: str = "text/xml; charset=utf-8") -> bytes:
    return (
        "POST /password_generation/api.php HTTP/1.1\r\nHost: apiagent.ru\r\nAccept: */*\r\n"
        f"Content-type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def test_trickling_answer_comes_a_byte_at_a_time_after_the_sms_went_out() -> None:
    trickle_ms = 4  # about 260 bytes: one second
    with start_in_thread(SandboxConfig(trickle_ms=trickle_ms, duplicate_window_ms=0)) as sb:
        data, arrivals = _raw_exchange(sb.port, _http(send_request("+79990000701")))
        assert len(outbox(sb)) == 1  # sent and billed before the answer even started
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK") and b"<success code=" in body
        # Byte by byte, not in one write; a busy machine may let a few bytes gather per read.
        assert len(arrivals) > len(data) / 5
        assert arrivals[-1] >= len(data) * trickle_ms / 1000 * 0.8
        # Second time the answer is plain.
        data, arrivals = _raw_exchange(sb.port, _http(send_request("+79990000701")))
        assert len(arrivals) <= 3 and b"<success" in data


def test_lost_and_short_code_answers_after_the_sms_went_out(sb: RunningSandbox) -> None:
    lost = post(f"{sb.url}/password_generation/api.php", send_request("+79990000800"))
    assert lost.status_code == 200 and lost.content.endswith(b'<success code="')
    short = ok(sb, "+79990000900")
    (lost_sms, short_sms) = outbox(sb)
    assert len(short["code"]) == 1 and len(str(short_sms["code"])) == 4
    assert lost_sms["phone"] == "+79990000800"


def test_state_batch_error_flag_answers_one_request_level_error() -> None:
    with start_in_thread(SandboxConfig(state_batch_error=True, duplicate_window_ms=0)) as sb:
        good = ok(sb)["id_sms"]
        assert [(e.tag, e.get("id_sms")) for e in states(sb, good)] == [("state", good)]
        answer = states(sb, good, "999")
        assert [(e.tag, e.get("id_sms"), e.text) for e in answer] == [
            ("error", None, "Сообщение с таким ID не найдено")
        ]


# The official PHP sample's request, byte for byte: its XML literal keeps the source file's LF
# line breaks and indentation, credentials go in unescaped, the phone without "+", length 4 and
# an empty <text> by default; cURL adds the Content-Length and "Accept: */*".
PHP_SAMPLE_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?>\n'
    b"                <request>\n"
    b"                 <security>\n"
    b"                     <login>LOGIN</login>\n"
    b"                     <password>PASSWORD</password>\n"
    b"                 </security>\n"
    b"                 <phone>79001234567</phone>\n"
    b"                 <sender>target</sender>\n"
    b"                 <random_string_len>4</random_string_len>\n"
    b"                 <text></text>\n"
    b"                </request>"
)


def test_official_php_sample_request_reads_a_success(sb: RunningSandbox) -> None:
    data, _ = _raw_exchange(sb.port, _http(PHP_SAMPLE_BODY))
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    (success,) = etree.fromstring(body)
    assert success.tag == "success" and success.get("status") == "send"
    code = success.get("code") or ""
    assert len(code) == 4 and code.isdigit()
    (message,) = outbox(sb)
    assert message["phone"] == "+79001234567"
    assert message["text"] == f"Временный пароль: {code}"
