"""TargetSMS XML: request builders and hardened response parsers. No I/O here.

Every value goes into the document through lxml, so escaping is the XML library's job, never
string formatting's. Answers are parsed with entities, DTDs and network access off and a size
cap, and anything that is not the documented shape becomes a ``ProtocolError``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from lxml import etree

from worker.errors import GatewayRejected, InvalidRequest, ProtocolError
from worker.providers.models import Balance, SendResult, StateEntry
from worker.providers.targetsms.errors import MAYBE_SENT_CODES, classify_error_text

__all__ = [
    "CONTENT_TYPE",
    "MAX_PUSH_BYTES",
    "MAX_RESPONSE_BYTES",
    "build_balance_request",
    "build_push_ack",
    "build_send_request",
    "build_set_push_url_request",
    "build_state_request",
    "parse_balance_response",
    "parse_push",
    "parse_send_response",
    "parse_set_push_url_response",
    "parse_state_response",
]

CONTENT_TYPE = "text/xml; charset=utf-8"
MAX_RESPONSE_BYTES = 64 * 1024
_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>\n'

_local = threading.local()


def _parser() -> etree.XMLParser:
    # lxml parsers keep per-parse state: one per thread.
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
        _local.parser = parser
    return parser


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> None:
    child = etree.SubElement(parent, tag, attrs)
    if text is not None:
        child.text = text


def _serialize(root: etree._Element) -> bytes:
    try:
        return _DECLARATION + etree.tostring(
            root, encoding="utf-8", xml_declaration=False, pretty_print=True
        )
    except ValueError as exc:  # pragma: no cover - guarded by _xml_text
        raise InvalidRequest("a field holds characters XML cannot carry") from exc


def _xml_text(value: str, field: str) -> str:
    """Refuse what XML 1.0 cannot carry (NUL, most control characters, lone surrogates)."""
    for ch in value:
        cp = ord(ch)
        if (cp < 0x20 and ch not in "\t\n\r") or 0xD800 <= cp <= 0xDFFF or cp in (0xFFFE, 0xFFFF):
            raise InvalidRequest(f"{field} contains a character XML cannot carry (U+{cp:04X})")
    return value


def build_send_request(
    *, login: str, password: str, phone: str, sender: str, code_length: int | None, text: str
) -> bytes:
    """The ``password_generation`` document, element for element as the guide shows it."""
    root = etree.Element("request")
    security = etree.SubElement(root, "security")
    _sub(security, "login", _xml_text(login, "login"))
    _sub(security, "password", _xml_text(password, "password"))
    _sub(root, "phone", _xml_text(phone, "phone"))
    _sub(root, "sender", _xml_text(sender, "sender"))
    if code_length is not None:
        _sub(root, "random_string_len", str(code_length))
    _sub(root, "text", _xml_text(text, "text"))
    return _serialize(root)


def _security_attrs(root: etree._Element, login: str, password: str) -> None:
    # The state/balance functions take credentials as attributes, unlike password_generation.
    security = etree.SubElement(root, "security")
    _sub(security, "login", value=_xml_text(login, "login"))
    _sub(security, "password", value=_xml_text(password, "password"))


def build_state_request(*, login: str, password: str, ids: Iterable[str]) -> bytes:
    root = etree.Element("request")
    _security_attrs(root, login, password)
    get_state = etree.SubElement(root, "get_state")
    for id_sms in ids:
        _sub(get_state, "id_sms", _xml_text(id_sms, "id_sms"))
    return _serialize(root)


def build_balance_request(*, login: str, password: str) -> bytes:
    root = etree.Element("request")
    _security_attrs(root, login, password)
    return _serialize(root)


def _parse_response(body: bytes) -> etree._Element:
    if len(body) > MAX_RESPONSE_BYTES:
        raise ProtocolError(f"answer larger than {MAX_RESPONSE_BYTES} bytes")
    if not body.strip():
        raise ProtocolError("empty answer")
    try:
        root = etree.fromstring(body, _parser())
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise ProtocolError("answer is not well-formed XML") from exc
    if root.getroottree().docinfo.doctype or root.getroottree().docinfo.internalDTD is not None:
        raise ProtocolError("answer carries a DTD; refused")
    if not isinstance(root.tag, str) or root.tag != "response":
        raise ProtocolError(f"answer root is <{_tag_name(root)}>, expected <response>")
    return root


def _tag_name(element: etree._Element) -> str:
    tag = element.tag
    return tag[:40] if isinstance(tag, str) else "?"


def _text(element: etree._Element) -> str:
    return (element.text or "").strip()


def _raise_error(element: etree._Element) -> None:
    text = _text(element) or "gateway answered an empty <error>"
    code = classify_error_text(text)
    raise GatewayRejected(text, code=code, maybe_sent=code in MAYBE_SENT_CODES)


def _is_token(value: str, limit: int = 64) -> bool:
    return 0 < len(value) <= limit and value.isascii() and value.isalnum()


def parse_send_response(body: bytes) -> SendResult:
    """``<success code id_sms status/>`` or ``<error>text</error>``; anything else is a lie."""
    root = _parse_response(body)
    success = root.find("success")
    if success is None:
        error = root.find("error")
        if error is not None:
            _raise_error(error)
        raise ProtocolError("answer has neither <success> nor <error>")
    code = (success.get("code") or "").strip()
    id_sms = (success.get("id_sms") or "").strip()
    status = (success.get("status") or "").strip()
    if not (code.isascii() and code.isdigit() and 1 <= len(code) <= 32):
        raise ProtocolError("<success> has no usable code attribute")
    if not _is_token(id_sms):
        raise ProtocolError("<success> has no usable id_sms attribute")
    if not _is_token(status.replace("_", "x")):
        raise ProtocolError("<success> has no usable status attribute")
    return SendResult(code=code, id_sms=id_sms, status=status)


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _decimal_or_none(value: str | None) -> Decimal | None:
    try:
        return Decimal(value) if value else None
    except InvalidOperation:
        return None


def parse_state_response(body: bytes) -> list[StateEntry]:
    """Every ``<state>`` and per-id ``<error>``; a lone request-level ``<error>`` raises."""
    root = _parse_response(body)
    entries: list[StateEntry] = []
    request_error: etree._Element | None = None
    for element in root:
        if not isinstance(element.tag, str):
            continue
        id_sms = (element.get("id_sms") or "").strip()
        if element.tag == "state" and _is_token(id_sms):
            entries.append(
                StateEntry(
                    id_sms=id_sms,
                    status=_text(element) or None,
                    time=element.get("time") or None,
                    num_parts=_int_or_none(element.get("num_parts")),
                    price=_decimal_or_none(element.get("price")),
                )
            )
        elif element.tag == "error" and _is_token(id_sms):
            entries.append(StateEntry(id_sms=id_sms, status=None, error=_text(element) or "error"))
        elif element.tag == "error" and request_error is None:
            request_error = element
    if request_error is not None and not entries:
        _raise_error(request_error)
    return entries


def parse_balance_response(body: bytes) -> Balance:
    root = _parse_response(body)
    money = root.find("money")
    if money is None:
        error = root.find("error")
        if error is not None:
            _raise_error(error)
        raise ProtocolError("balance answer has no <money>")
    amount = _decimal_or_none(_text(money))
    if amount is None:
        raise ProtocolError("balance answer has an unreadable <money>")
    sms = tuple(
        (element.get("area") or "", count)
        for element in root.findall("sms")
        if (count := _int_or_none(_text(element))) is not None
    )
    return Balance(money=amount, currency=money.get("currency") or "", sms=sms)


# --- push: the platform POSTs <state> elements to our URL and wants the ids back -------------

# A push of a few thousand <state> elements fits; anything bigger is not the platform's.
MAX_PUSH_BYTES = 1024 * 1024
MAX_PUSH_URL_CHARS = 2000


def build_set_push_url_request(*, login: str, password: str, url: str) -> bytes:
    """``<get_state type="set">URL</get_state>``: where the platform pushes statuses ('' = off)."""
    if len(url) > MAX_PUSH_URL_CHARS:
        raise InvalidRequest(f"push URL longer than {MAX_PUSH_URL_CHARS} characters")
    root = etree.Element("request")
    _security_attrs(root, login, password)
    _sub(root, "get_state", _xml_text(url, "push URL"), type="set")
    return _serialize(root)


def parse_set_push_url_response(body: bytes) -> None:
    """Any ``<response>`` without an ``<error>`` means the URL was taken."""
    error = _parse_response(body).find("error")
    if error is not None:
        _raise_error(error)


def _parse_push_root(body: bytes) -> etree._Element:
    if len(body) > MAX_PUSH_BYTES:
        raise ProtocolError(f"push body larger than {MAX_PUSH_BYTES} bytes")
    if not body.strip():
        raise ProtocolError("push body is empty")
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise ProtocolError("push body carries a DTD; refused")
    try:
        root = etree.fromstring(body, _parser())
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise ProtocolError("push body is not well-formed XML") from exc
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise ProtocolError("push body carries a DTD; refused")
    return root


def parse_push(body: bytes) -> list[StateEntry]:
    """The ``<state id_sms time>STATUS</state>`` elements of a push, in order.

    The root's name is not documented, so any root holding ``<state>`` children is read (a lone
    ``<state>`` root too). Elements without a usable id or status are skipped: they are not
    acknowledged, so the platform sends them again. A body with none usable is refused.
    """
    root = _parse_push_root(body)
    elements = [root] if root.tag == "state" else root.findall("state")
    entries: list[StateEntry] = []
    for element in elements:
        id_sms = (element.get("id_sms") or "").strip()
        status = _text(element)
        if _is_token(id_sms) and _is_token(status.replace("_", "x"), 32):
            entries.append(
                StateEntry(
                    id_sms=id_sms,
                    status=status,
                    time=element.get("time") or None,
                    num_parts=_int_or_none(element.get("num_parts")),
                    price=_decimal_or_none(element.get("price")),
                )
            )
    if not entries:
        raise ProtocolError("push body holds no <state id_sms=...>STATUS</state>")
    return entries


def build_push_ack(ids: Iterable[str]) -> bytes:
    """``<response><id_sms>ID</id_sms>...</response>``: the ids the platform may stop sending."""
    root = etree.Element("response")
    for id_sms in ids:
        _sub(root, "id_sms", _xml_text(id_sms, "id_sms"))
    return _serialize(root)
