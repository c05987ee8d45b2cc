"""Hardened XML parsing for adapters: no entities, no DTD, no network, bounded size and depth.

Every XML document an adapter reads comes from outside and may be hostile (XXE reading a local
file, entity expansion bombs, external DTDs, oversized or absurdly deep documents). Parse it
with :func:`parse_bytes` (small documents) or :func:`iter_elements` (streaming, constant memory);
both reject a document with a DOCTYPE outright and raise :class:`XmlRejected` with a reason that
never quotes the document's content.
"""

from __future__ import annotations

import os
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


class XmlRejected(IsobridgeError, ValueError):
    """The document is refused; the message says why without quoting its content."""


@dataclass(frozen=True)
class XmlLimits:
    """Bounds of an accepted document."""

    max_bytes: int = 100 * 1024 * 1024
    """Largest document size in bytes."""
    max_depth: int = 64
    """Deepest element nesting."""


def hardened_parser() -> etree.XMLParser:
    """An lxml parser with entities, DTDs and network access off."""
    return etree.XMLParser(**PARSER_FLAGS, remove_comments=True, remove_pis=True)


class _BoundedReader:
    """A binary file wrapper that refuses to read past `limit` bytes."""

    def __init__(self, handle: BinaryIO, limit: int):
        self._handle, self._limit, self.read_bytes = handle, limit, 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._handle.read(size if size and size > 0 else 65536)
        self.read_bytes += len(chunk)
        if self.read_bytes > self._limit:
            raise XmlRejected(f"document is larger than the limit of {self._limit} bytes")
        return chunk


def _check_doctype(element: etree._Element) -> None:
    info = element.getroottree().docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise XmlRejected("DOCTYPE declarations (DTDs, entities) are not allowed")


def _syntax(exc: etree.XMLSyntaxError) -> XmlRejected:
    line = getattr(exc, "lineno", None)
    where = f" at line {line}" if line else ""
    return XmlRejected(f"not well-formed XML{where}: {exc.msg.splitlines()[0] if exc.msg else 'syntax error'}")


def iter_elements(source: str | os.PathLike | BinaryIO, limits: XmlLimits = XmlLimits(),
                  events: tuple[str, ...] = ("start", "end")) -> Iterator[tuple[str, etree._Element]]:
    """Stream `(event, element)` pairs of a document, hardened and bounded.

    Each element is cleared (and its finished siblings dropped) after it was yielded at its
    `end` event, so memory stays flat: read an element's text at its own `end`. Stopping the
    iteration early stops reading the file.
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
    parser = etree.iterparse(reader, events=("start", "end"), remove_comments=True, remove_pis=True,
                             **PARSER_FLAGS)
    depth = 0
    try:
        for event, element in parser:
            if event == "start":
                if depth == 0:
                    _check_doctype(element)
                depth += 1
                if depth > limits.max_depth:
                    raise XmlRejected(f"elements nested deeper than the limit of {limits.max_depth}")
                if "start" in wanted:
                    yield event, element
                continue
            depth -= 1
            if "end" in wanted:
                yield event, element
            _release(element)
    except etree.XMLSyntaxError as exc:
        raise _syntax(exc) from None


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
    try:
        root = etree.fromstring(data, hardened_parser())
    except etree.XMLSyntaxError as exc:
        raise _syntax(exc) from None
    _check_doctype(root)
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > limits.max_depth:
            raise XmlRejected(f"elements nested deeper than the limit of {limits.max_depth}")
        stack.extend((child, depth + 1) for child in element)
    return root
