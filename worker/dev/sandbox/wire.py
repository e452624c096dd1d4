"""TargetSMS XML on the gateway side: one hardened parser (requests, and the answers to the
sandbox's own pushes) and answers shaped like the guide's.

Answers are written from templates (with escaping) rather than serialised by lxml so that the
bytes look exactly like the guide's samples: declaration, two-space indent, ``<success ... />``.
"""

from __future__ import annotations

import threading
from xml.sax.saxutils import escape

from lxml import etree

__all__ = [
    "CONTENT_TYPE",
    "MALFORMED_BODY",
    "BadXml",
    "answer",
    "balance_lines",
    "children",
    "error_line",
    "parse_answer",
    "parse_request",
    "state_line",
    "success_line",
    "text_of",
]

CONTENT_TYPE = "text/xml; charset=utf-8"
_HEAD = '<?xml version="1.0" encoding="utf-8"?>\n<response>\n'
_TAIL = "</response>\n"
# A success answer cut off mid-attribute, as a dropped upstream connection would leave it.
MALFORMED_BODY = (_HEAD + '  <success code="').encode()
_ATTR_ENTITIES = {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}

_local = threading.local()


class BadXml(ValueError):
    """The body is not a well-formed, DTD-free UTF-8 document with the expected root."""


def _parser() -> etree.XMLParser:
    # lxml parsers carry per-parse state: one per thread (each sandbox loop runs in its own).
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


def parse_request(body: bytes) -> etree._Element:
    """Parse a request body; raise ``BadXml`` for anything the real gateway would not read."""
    return _parse(body, "request")


def parse_answer(body: bytes) -> etree._Element:
    """Parse an answer to one of our own requests (a push receiver's acknowledgement), by the
    same rules: ``BadXml`` unless it is a well-formed, DTD-free UTF-8 ``<response>``."""
    return _parse(body, "response")


def _parse(body: bytes, root_tag: str) -> etree._Element:
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise BadXml("DTDs are refused")
    try:
        root = etree.fromstring(body, _parser())
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise BadXml("not well-formed") from exc
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise BadXml("DTDs are refused")
    if (docinfo.encoding or "UTF-8").upper() != "UTF-8":
        raise BadXml("only UTF-8 documents")
    if root.tag != root_tag:
        raise BadXml(f"root element is not <{root_tag}>")
    return root


def children(parent: etree._Element | None) -> dict[object, etree._Element]:
    """Direct children by tag, first occurrence winning (as ``find`` would), in one pass."""
    if parent is None:
        return {}
    return {child.tag: child for child in reversed(parent)}


def text_of(element: etree._Element | None) -> str | None:
    """Element text: ``None`` when the element is absent, ``""`` when it is empty."""
    if element is None:
        return None
    return element.text or ""


def _attr(value: str) -> str:
    if value.isalnum():  # ids, codes, statuses: nothing to escape (the common, hot case)
        return value
    return escape(value, _ATTR_ENTITIES)


def success_line(code: str, id_sms: str, status: str) -> str:
    return f'<success code="{_attr(code)}" id_sms="{_attr(id_sms)}" status="{_attr(status)}" />'


def error_line(text: str, id_sms: str | None = None) -> str:
    if id_sms is None:
        return f"<error>{escape(text)}</error>"
    return f'<error id_sms="{_attr(id_sms)}">{escape(text)}</error>'


def state_line(id_sms: str, status: str, time: str, num_parts: int | None, price: str) -> str:
    if num_parts is None:  # still "send": the guide's sample carries no parts or price yet
        return f'<state id_sms="{_attr(id_sms)}" time="{_attr(time)}">{escape(status)}</state>'
    return (
        f'<state id_sms="{_attr(id_sms)}" time="{_attr(time)}" num_parts="{num_parts}"'
        f' price="{_attr(price)}">{escape(status)}</state>'
    )


def balance_lines(money: str, sms: int) -> list[str]:
    return [f'<money currency="RUR">{escape(money)}</money>', f'<sms area="Россия">{sms}</sms>']


def answer(*lines: str) -> bytes:
    """A complete ``<response>`` document, one element per line, indented like the guide."""
    return (_HEAD + "".join(f"  {line}\n" for line in lines) + _TAIL).encode()
