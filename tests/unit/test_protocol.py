"""The XML protocol against the guide's own documents, hostile bodies and arbitrary input."""

from __future__ import annotations

from decimal import Decimal

import pytest
from guide_samples import GUIDE_ERROR, GUIDE_REQUEST, GUIDE_SUCCESS
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from worker.errors import GatewayError, GatewayRejected, InvalidRequest, ProtocolError
from worker.providers.targetsms import Balance, SendResult
from worker.providers.targetsms.protocol import (
    MAX_RESPONSE_BYTES,
    build_balance_request,
    build_send_request,
    build_state_request,
    parse_balance_response,
    parse_send_response,
    parse_state_response,
)


def test_send_request_is_the_guides_document_byte_for_byte() -> None:
    built = build_send_request(
        login="LOGIN",
        password="PASSWORD",
        phone="+79001234567",
        sender="target",
        code_length=4,
        text="Временный пароль: {код}",
    )
    assert built == GUIDE_REQUEST


def test_guide_success_and_error_answers() -> None:
    result = parse_send_response(GUIDE_SUCCESS)
    assert (result.code, result.id_sms, result.status) == ("64653989", "1712292705", "send")
    assert "64653989" not in repr(result)
    with pytest.raises(GatewayRejected) as info:
        parse_send_response(GUIDE_ERROR)
    assert info.value.code == "auth_failed"
    assert info.value.message == "Неверный логин или пароль"


@pytest.mark.parametrize(
    ("text", "code", "maybe_sent"),
    [
        # Texts public TargetSMS clients quote, beside the ones the guide documents.
        ("Данное сообщение уже было отправлено.", "duplicate_request", False),
        (
            "Попытка отправки более одного одинакового запроса в течение минуты",
            "duplicate_request",
            False,
        ),
        (
            "Недостаточно средств для отправки SMS. SMS будет отправлена как только вы "
            "пополните счёт…",
            "no_funds_queued",
            True,
        ),
        ("Недостаточно средств для отправки SMS.", "no_funds", False),
        ("Закончились SMS.", "no_funds", False),
    ],
)
def test_seen_error_texts_map_to_what_they_mean(text: str, code: str, maybe_sent: bool) -> None:
    body = f"<response><error>{text}</error></response>".encode()
    with pytest.raises(GatewayRejected) as info:
        parse_send_response(body)
    assert (info.value.code, info.value.maybe_sent) == (code, maybe_sent)
    assert info.value.message == text


def test_state_request_carries_credentials_as_attributes_and_many_ids() -> None:
    root = etree.fromstring(build_state_request(login="L", password="P&<'\"", ids=["1", "2", "3"]))
    assert root.find("security/login").get("value") == "L"
    assert root.find("security/password").get("value") == "P&<'\""
    assert [e.text for e in root.findall("get_state/id_sms")] == ["1", "2", "3"]


def test_state_answer_with_states_per_id_error_and_unknown_status() -> None:
    body = """<?xml version="1.0" encoding="utf-8"?>
<response>
  <state id_sms="1712292705" time="2026-01-01 12:57:46" num_parts="1" price="1.15">deliver</state>
  <state id_sms="1712292706" time="">send</state>
  <state id_sms="1712292707" time="2026-01-01 12:58:00">read</state>
  <error id_sms="1712292708">Сообщение с таким ID не найдено</error>
</response>""".encode()
    entries = {e.id_sms: e for e in parse_state_response(body)}
    assert entries["1712292705"].status == "deliver"
    assert entries["1712292705"].price == Decimal("1.15")
    assert entries["1712292705"].num_parts == 1
    assert entries["1712292706"].status == "send" and entries["1712292706"].time is None
    assert entries["1712292707"].status == "read"
    assert entries["1712292708"].status is None and entries["1712292708"].error


def test_state_request_level_error_raises() -> None:
    body = "<response><error>Неправильный формат XML документа</error></response>".encode()
    with pytest.raises(GatewayRejected) as info:
        parse_state_response(body)
    assert info.value.code == "bad_request"


def test_balance() -> None:
    body = (
        '<?xml version="1.0" encoding="utf-8"?><response><money currency="RUR">150.5</money>'
        '<sms area="Россия">111</sms></response>'
    ).encode()
    balance = parse_balance_response(body)
    assert balance.money == Decimal("150.5") and balance.currency == "RUR"
    assert balance.sms == (("Россия", 111),)
    assert build_balance_request(login="L", password="P").startswith(b'<?xml version="1.0"')


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        b"<!DOCTYPE html><html><body>nginx</body></html>",
        b'<?xml version="1.0"?><response><success code="1" id_sms="2"',
        b"<response/>",
        b"<other><success code='1' id_sms='2' status='send'/></other>",
        b"<response><success id_sms='2' status='send'/></response>",
        b"<response><success code='12' status='send'/></response>",
        b"<response><success code='abc' id_sms='2' status='send'/></response>",
        b"<response><success code='1234' id_sms='2'/></response>",
        b"<response><success code='1234' id_sms='../../x' status='send'/></response>",
        b"\xff\xfe<\x00r\x00",
        b"<response>" + b"x" * MAX_RESPONSE_BYTES + b"</response>",
    ],
)
def test_anything_else_is_a_protocol_error(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_send_response(body)


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE response [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<response><error>&xxe;</error></response>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<response><error>&lol9;</error></response>"""


@pytest.mark.parametrize("body", [XXE, BILLION_LAUGHS], ids=["xxe", "billion-laughs"])
def test_dtd_payloads_are_refused_with_a_clear_protocol_error(body: bytes) -> None:
    for parse in (parse_send_response, parse_state_response, parse_balance_response):
        with pytest.raises(ProtocolError) as info:
            parse(body)
        assert "DTD" in info.value.message or "well-formed" in info.value.message
        assert "root:" not in info.value.message  # nothing from /etc/passwd


def assert_parsers_answer_or_refuse(body: bytes) -> None:
    """Each parser returns its value type or raises one of the client's own errors."""
    for parse, kind in (
        (parse_send_response, SendResult),
        (parse_state_response, list),
        (parse_balance_response, Balance),
    ):
        try:
            outcome: object = parse(body)
        except GatewayError as exc:
            outcome = exc
            assert exc.code and exc.message
        assert isinstance(outcome, kind | GatewayError)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_any_bytes_end_in_a_result_or_our_own_error(body: bytes) -> None:
    assert_parsers_answer_or_refuse(body)


# Any concatenation of these pieces, up to 20 of them. (A recursive strategy of joined lists
# draws the same strings, at twice the cost per example.)
xmlish = st.lists(
    st.sampled_from(
        [
            "<response>",
            "</response>",
            "<success ",
            "/>",
            "<error>",
            "</error>",
            "<state id_sms='1'>",
            "</state>",
            "code='12'",
            " id_sms='9'",
            " status='send'",
            "&amp;",
            "&x;",
            "<!--c-->",
            "<?pi?>",
            "<![CDATA[x]]>",
        ]
    ),
    max_size=20,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(xmlish)
def test_xml_shaped_input_ends_in_a_result_or_our_own_error(text: str) -> None:
    assert_parsers_answer_or_refuse(text.encode())


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.text(max_size=40))
def test_any_text_round_trips_or_is_refused_before_sending(text: str, login: str) -> None:
    try:
        body = build_send_request(
            login=login or "x", password="p", phone="+79001234567", sender="s", code_length=6,
            text=text,
        )  # fmt: skip
    except InvalidRequest:
        return
    root = etree.fromstring(body)
    assert (root.findtext("text") or "") == text
    assert root.findtext("security/login") == (login or "x")
