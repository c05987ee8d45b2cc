"""Hardened XML parsing for adapters: no entities, no DTD, no network, bounded size and depth.

Internal module: plugins import its public names from `isobridge.core` (the face).

Every XML document an adapter reads comes from outside and may be hostile (XXE reading a local
file, entity expansion bombs, external DTDs, oversized or absurdly deep documents). Parse it
with :func:`parse_bytes` (small documents) or :func:`iter_elements` (streaming, constant memory).

Our own checks decide, whatever the libxml2 version: a :class:`MarkupScanner` reads the bytes
*before* lxml gets them and refuses a DOCTYPE (or any other markup declaration), nesting deeper
than the limit, a non ASCII-compatible encoding and a document past the size limit; lxml only
ever parses bytes the scanner has passed. Every refusal is an :class:`XmlRejected` whose reason
never quotes the document's content.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from lxml import etree

from .errors import IsobridgeError

PARSER_FLAGS = dict(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False,
)
"""lxml parser keywords that switch off every feature a hostile document could abuse."""

CHUNK = 65536
"""Bytes read (and scanned, then parsed) at a time when streaming."""
MAX_TAG_BYTES = 1024 * 1024
"""Longest single tag (name and attributes) accepted."""
LIBXML_MAX_DEPTH = 255
"""Deepest nesting every libxml2 accepts without `huge_tree`; our limit must stay below it."""

DOCTYPE_REASON = "DOCTYPE declarations (DTDs, entities) are not allowed"
_TAG = re.compile(rb"""<(?:[^<>"']|"[^<"]*"|'[^<']*')*+>""")
_TAG_PREFIX = re.compile(rb"""<(?:[^<>"']|"[^<"]*"|'[^<']*')*+(?:"[^<"]*|'[^<']*)?\Z""")
_NAME_START = re.compile(rb"[A-Za-z_:\x80-\xff]")
_ENCODING = re.compile(rb"""\A<\?xml\s[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]*)["']""")
_ASCII_COMPATIBLE = re.compile(r"(utf-?8|(us-)?ascii|iso-?8859-\d+|latin-?1|windows-125\d|cp125\d)\Z", re.I)
_WIDE_STARTS = (b"\xff\xfe", b"\xfe\xff", b"\x00", b"<\x00")
_ENDS = {b"<!--": b"-->", b"<![CDATA[": b"]]>", b"<?": b"?>"}


class XmlRejected(IsobridgeError, ValueError):
    """The document is refused; the message says why without quoting its content."""


@dataclass(frozen=True)
class XmlLimits:
    """Bounds of an accepted document."""

    max_bytes: int = 100 * 1024 * 1024
    """Largest document size in bytes."""
    max_depth: int = 64
    """Deepest element nesting (at most :data:`LIBXML_MAX_DEPTH`)."""

    def __post_init__(self) -> None:
        if not 0 < self.max_depth <= LIBXML_MAX_DEPTH:
            raise ValueError(f"max_depth must be between 1 and {LIBXML_MAX_DEPTH}")


def hardened_parser() -> etree.XMLParser:
    """An lxml parser with entities, DTDs and network access off."""
    return etree.XMLParser(**PARSER_FLAGS, remove_comments=True, remove_pis=True)


class MarkupScanner:
    """Vets a byte stream before lxml parses it: our checks, our reasons.

    :meth:`scan` takes the next chunk and returns the bytes that are safe to parse now and the
    reason the stream must stop after them (None: go on). Bytes of an unfinished tag are kept
    until the next chunk completes it.
    """

    def __init__(self, max_depth: int):
        self.max_depth, self.depth, self.offset = max_depth, 0, 0
        self._carry, self._inside, self._started, self._final = b"", b"", False, False

    def scan(self, chunk: bytes, final: bool = False) -> tuple[bytes, str | None]:
        """(bytes safe to parse, reason to stop after them or None) for the next chunk;
        `final`: no bytes follow, so unfinished markup is a fault."""
        self._final = final
        data = self._carry + chunk
        end, problem = self._walk(data)
        self._carry = data[end:]
        self.offset += end
        if problem is None and len(self._carry) > MAX_TAG_BYTES:
            problem = f"a tag longer than {MAX_TAG_BYTES} bytes at byte {self.offset}"
        if problem is None and final and (self._carry or self._inside):
            problem = f"not well-formed XML: the document ends inside markup at byte {self.offset}"
        return data[:end], problem

    def _walk(self, data: bytes) -> tuple[int, str | None]:
        pos = 0
        if not self._started:
            pos, problem = self._prolog(data)
            if problem or not self._started:
                return pos, problem
        while pos < len(data):
            if self._inside:
                pos = self._skip_to_end(data, pos)
                if self._inside:
                    return pos, None
                continue
            start = data.find(b"<", pos)
            if start < 0:
                return len(data), None
            pos, problem = self._markup(data, start)
            if problem or pos == start:
                return pos, problem
        return pos, None

    def _prolog(self, data: bytes) -> tuple[int, str | None]:
        """Checks the document's first bytes: markup first, an ASCII-compatible encoding."""
        head = data.lstrip(b"\xef\xbb\xbf \t\r\n")
        if not self._final and (not head or (len(head) < 9 and head.startswith(b"<"))):
            return 0, None  # not enough bytes to decide yet
        if not head:
            return 0, None
        if head.startswith(_WIDE_STARTS):
            return 0, "only UTF-8 or another ASCII-compatible encoding is accepted"
        if not head.startswith(b"<"):
            return 0, "not well-formed XML: the document does not start with markup"
        declared = _ENCODING.match(head)
        if head.startswith(b"<?xml") and b"?>" not in head and len(head) < 1024 and not self._final:
            return 0, None
        if declared and not _ASCII_COMPATIBLE.match(declared.group(1).decode("ascii")):
            return 0, "only UTF-8 or another ASCII-compatible encoding is accepted"
        self._started = True
        return 0, None

    def _skip_to_end(self, data: bytes, pos: int) -> int:
        """Past the end of the comment, CDATA section or PI being read (or to the chunk's end)."""
        found = data.find(self._inside, pos)
        if found < 0:
            return max(pos, len(data) - len(self._inside) + 1)
        end, self._inside = found + len(self._inside), b""
        return end

    def _markup(self, data: bytes, start: int) -> tuple[int, str | None]:
        """Reads the markup at `start`: (position after it, or `start` if unfinished; reason)."""
        rest = data[start:start + 9]
        for opening, closing in _ENDS.items():
            if rest.startswith(opening):
                self._inside = closing
                return start + len(opening), None
            if opening.startswith(rest):
                return start, None  # too short to tell yet
        if rest.startswith(b"<!"):
            return start, DOCTYPE_REASON
        closing_tag = rest.startswith(b"</")
        if len(rest) < 2 + closing_tag:
            return start, None
        if not _NAME_START.match(rest, 1 + closing_tag):
            return start, f"not well-formed XML: a '<' that starts no tag at byte {self.offset + start}"
        tag = _TAG.match(data, start)
        if tag is None:
            if _TAG_PREFIX.match(data, start):
                return start, None
            return start, f"not well-formed XML: a broken tag at byte {self.offset + start}"
        return self._count(tag, closing_tag)

    def _count(self, tag: re.Match, closing_tag: bool) -> tuple[int, str | None]:
        if closing_tag:
            self.depth -= 1
        elif not tag.group().endswith(b"/>"):
            self.depth += 1
            if self.depth > self.max_depth:
                return tag.start(), f"elements nested deeper than the limit of {self.max_depth}"
        return tag.end(), None


class _BoundedReader:
    """A binary file wrapper that refuses to read past `limit` bytes."""

    def __init__(self, handle: BinaryIO, limit: int):
        self._handle, self._limit, self.read_bytes = handle, limit, 0

    def read(self, size: int = CHUNK) -> bytes:
        chunk = self._handle.read(size)
        self.read_bytes += len(chunk)
        if self.read_bytes > self._limit:
            raise XmlRejected(f"document is larger than the limit of {self._limit} bytes")
        return chunk


def _check_doctype(element: etree._Element) -> None:
    info = element.getroottree().docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise XmlRejected(DOCTYPE_REASON)


def _syntax(exc: etree.XMLSyntaxError) -> XmlRejected:
    line = getattr(exc, "lineno", None)
    where = f" at line {line}" if line else ""
    return XmlRejected(f"not well-formed XML{where}: {exc.msg.splitlines()[0] if exc.msg else 'syntax error'}")


def iter_elements(source: str | os.PathLike | BinaryIO, limits: XmlLimits = XmlLimits(),
                  events: tuple[str, ...] = ("start", "end")) -> Iterator[tuple[str, etree._Element]]:
    """Stream `(event, element)` pairs of a document, hardened and bounded.

    Each element is cleared (and its finished siblings dropped) after it was yielded at its
    `end` event, so memory stays flat: read an element's text at its own `end`. Stopping the
    iteration early stops reading the file; what follows is never parsed, so a fault there
    is never seen.
    """
    if isinstance(source, (str, os.PathLike)):
        size = Path(source).stat().st_size
        if size > limits.max_bytes:
            raise XmlRejected(f"document is {size} bytes, larger than the limit of {limits.max_bytes}")
        with open(source, "rb") as handle:
            yield from _stream(_BoundedReader(handle, limits.max_bytes), limits, events)
    else:
        yield from _stream(_BoundedReader(source, limits.max_bytes), limits, events)


def _stream(reader: _BoundedReader, limits: XmlLimits,
            events: tuple[str, ...]) -> Iterator[tuple[str, etree._Element]]:
    wanted = set(events)
    scanner = MarkupScanner(limits.max_depth)
    parser = etree.XMLPullParser(events=("start", "end"), remove_comments=True, remove_pis=True,
                                 **PARSER_FLAGS)
    first = True
    while True:
        chunk = reader.read(CHUNK)
        safe, problem = scanner.scan(chunk, final=not chunk)
        failure = _feed(parser, safe, close=not chunk and problem is None)
        for event, element in parser.read_events():
            if first:
                _check_doctype(element)
                first = False
            if event in wanted:
                yield event, element
            if event == "end":
                _release(element)
        if problem or failure:
            raise XmlRejected(problem) if problem else failure
        if not chunk:
            return


def _feed(parser: etree.XMLPullParser, data: bytes, close: bool) -> XmlRejected | None:
    """Feeds vetted bytes (and the end, when `close`); a syntax error is returned, not raised,
    so that the events parsed before it are still delivered."""
    try:
        if data:
            parser.feed(data)
        if close:
            parser.close()
    except etree.XMLSyntaxError as exc:
        return _syntax(exc)
    return None


def _release(element: etree._Element) -> None:
    element.clear(keep_tail=False)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


def parse_bytes(data: bytes, limits: XmlLimits = XmlLimits()) -> etree._Element:
    """Parse a small document held in memory; the same checks as :func:`iter_elements`."""
    if len(data) > limits.max_bytes:
        raise XmlRejected(f"document is {len(data)} bytes, larger than the limit of {limits.max_bytes}")
    scanner = MarkupScanner(limits.max_depth)
    _, problem = scanner.scan(data, final=True)
    if problem:
        raise XmlRejected(problem)
    try:
        root = etree.fromstring(data, hardened_parser())
    except etree.XMLSyntaxError as exc:
        raise _syntax(exc) from None
    _check_doctype(root)
    return root
