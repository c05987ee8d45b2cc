"""core.xmlsafe: our own checks decide (whatever libxml2 does), with our own reasons."""

from __future__ import annotations

import io

import pytest

from isobridge.core import xmlsafe
from isobridge.core.xmlsafe import XmlLimits, XmlRejected, iter_elements, parse_bytes

DOCTYPE = "DOCTYPE declarations"


def elements(data: bytes, limits: XmlLimits = XmlLimits(), stop: str | None = None) -> list[str]:
    """Local names at their end event, stopping after `stop` like an early-closing reader."""
    names = []
    for event, element in iter_elements(io.BytesIO(data), limits, events=("end",)):
        names.append(element.tag)
        if element.tag == stop:
            break
    return names


def reason(call) -> str:
    with pytest.raises(XmlRejected) as caught:
        call()
    return str(caught.value)


@pytest.mark.parametrize("levels", [65, 300, 3000])
def test_depth_is_our_reason_above_and_below_libxml2s_own_limit(levels):
    data = b"<r>" + b"<a>" * levels + b"</a>" * levels + b"</r>"
    assert "nested deeper than the limit of 64" in reason(lambda: elements(data))
    assert "nested deeper than the limit of 64" in reason(lambda: parse_bytes(data))


def test_a_deep_self_closing_and_commented_document_counts_right():
    data = b"<r>" + b"<a/><!-- <b> --><![CDATA[<c><c>]]><d x='>'>t</d>" * 500 + b"</r>"
    assert len(elements(data, XmlLimits(max_depth=2))) == 1001


@pytest.mark.parametrize("head", [
    b"<!DOCTYPE r [<!ENTITY a 'x'>]>", b"  \n<!DOCTYPE r SYSTEM 'file:///etc/passwd'>",
    b"<?xml version='1.0'?><!-- c --><!DOCTYPE r>", b"<r><!ENTITY a 'x'>",
])
def test_any_markup_declaration_is_refused_before_lxml_sees_it(head):
    data = head + b"<r>&a;</r>"
    assert DOCTYPE in reason(lambda: elements(data))
    assert DOCTYPE in reason(lambda: parse_bytes(data))


def test_a_doctype_split_across_chunks_is_still_refused(monkeypatch):
    monkeypatch.setattr(xmlsafe, "CHUNK", 3)
    assert DOCTYPE in reason(lambda: elements(b"<?xml version='1.0'?>\n<!DOCTYPE r []><r/>"))


def test_small_chunks_parse_a_document_whole(monkeypatch):
    monkeypatch.setattr(xmlsafe, "CHUNK", 2)
    data = "<r a='1 > 0'><!-- x --><b>Hòa</b><![CDATA[<y>]]><c/></r>".encode()
    assert elements(data) == ["b", "c", "r"]


@pytest.mark.parametrize("tail", [
    b"<<garbage", b"<a b>", b"<a>" * 400, b"<!DOCTYPE x>", b"\x00\xff&nope;", b"</r></r></r>",
])
def test_what_follows_the_part_read_is_never_parsed(tail):
    data = b"<r><h><k>1</k></h>" + tail + b"A" * 100_000
    assert elements(data, stop="h") == ["k", "h"]


@pytest.mark.parametrize("data", [
    "<r/>".encode("utf-16"), "<?xml version='1.0' encoding='UTF-16'?><r/>".encode("utf-16-le"),
    b"<?xml version='1.0' encoding='UTF-7'?><r/>", "<r/>".encode("cp500"),
])
def test_non_ascii_compatible_encodings_are_refused(data):
    text = reason(lambda: elements(data))
    assert "ASCII-compatible" in text or "does not start with markup" in text


def test_truncated_and_oversized_documents_are_refused():
    assert "not well-formed" in reason(lambda: elements(b"<r><a>"))
    assert "not well-formed" in reason(lambda: elements(b"<r><a "))
    assert "larger than the limit" in reason(lambda: elements(b"<r>" + b" " * 2000 + b"</r>", XmlLimits(max_bytes=1000)))


def test_a_limit_above_what_libxml2_allows_is_a_configuration_error():
    with pytest.raises(ValueError):
        XmlLimits(max_depth=1000)


@pytest.mark.parametrize("data", [b"<r/>", b"<r></r>", b"\n<r/>\n"])
def test_tiny_documents_parse(data):
    assert elements(data) == ["r"]
    assert parse_bytes(data).tag == "r"
