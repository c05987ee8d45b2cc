"""Streaming reader of edXML packets (QCVN 102:2016): the header fields, nothing else.

The reader walks the document with the hardened :func:`~isobridge.core.xmlsafe.iter_elements`,
keeps the text of the leaf elements of the header under their path relative to it (e.g.
``MessageHeader/From/OrganId``), and stops as soon as the header is closed: the manifest and
the `AttachmentEncoded` content that follow are never read, let alone decoded.

Three status layouts are seen in public edXML code and all read the same way (as ``Status/…``):

* ``edXMLHeader/Status/StatusCode`` (QCVN 102:2016; the builders of edoc-integrator);
* ``edXMLHeader/MessageHeader/StatusCode`` (status packets of provincial e-office axes);
* a SOAP 1.1 envelope whose ``Header/Status`` (or ``Body/Status``) holds the status fields,
  in the SOAP, the edXML or no namespace.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from isobridge.core import iter_elements, XmlLimits, XmlRejected

NAMESPACE = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
SKIPPED = frozenset({"AttachmentEncoded", "Signature", "Attachment"})
LAYOUTS = ("Status", "MessageHeader", "SOAP", "document")
"""Packet layouts: edXMLHeader/Status, MessageHeader/StatusCode, SOAP Status, a document."""


@dataclass
class Packet:
    """The header of one edXML packet: leaf paths (relative to the header) → texts in order."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    layout: str = ""
    """Where the packet kept its status (one of LAYOUTS; "document" for a document packet)."""

    @property
    def kind(self) -> str:
        """"status" for a status packet, "document" for a document packet, "" otherwise."""
        if self.layout:
            return "document" if self.layout == "document" else "status"
        if "Status/StatusCode" in self.fields:
            return "status"
        if any(path.startswith("MessageHeader/") for path in self.fields):
            return "document"
        return ""

    def first(self, path: str) -> str | None:
        """The first text at `path`, or None."""
        values = self.fields.get(path)
        return values[0] if values else None

    def all(self, path: str) -> list[str]:
        """Every text at `path`, in document order."""
        return self.fields.get(path, [])


def _split(tag: object) -> tuple[str | None, str]:
    """(namespace, local name) of an element tag; ("?", "") for comments and PIs."""
    if not isinstance(tag, str):
        return "?", ""
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return None, tag


class _Walker:
    """Follows the element path and collects the header's leaf texts."""

    def __init__(self):
        self.packet, self.path, self.skipping, self.soap = Packet(), [], 0, False
        self.container: int | None = None  # depth of the header element being read

    def start(self, tag: object) -> None:
        namespace, name = _split(tag)
        if not self.path:
            self._root(tag, namespace, name)
        self.path.append(name)
        if self.skipping or not self._wanted(namespace, name):
            self.skipping += 1
        elif self.container is None and self._is_container(namespace, name):
            self.container = len(self.path)

    def end(self, text: str | None, leaf: bool) -> bool:
        """Handle an end tag; True when the header is complete (stop reading)."""
        name, depth = self.path.pop(), len(self.path) + 1
        if self.skipping:
            self.skipping -= 1
            return False
        if self.container is not None and depth > self.container and leaf:
            key = "/".join(self.path[self.container:] + [name])
            if not self.soap or key.startswith(("Status/", "MessageHeader/", "TraceHeaderList/")):
                self.packet.fields.setdefault(key, []).append((text or "").strip())
        if depth == self.container:
            self.container = None
            return not self.soap or name == "Body"
        return False

    def _root(self, tag: object, namespace: str | None, name: str) -> None:
        if (namespace, name) == (SOAP, "Envelope"):
            self.soap = True
        elif (namespace, name) != (NAMESPACE, "edXML"):
            raise XmlRejected(f"root element is {tag!r}, not edXML:edXML of {NAMESPACE} nor a SOAP envelope")

    def _wanted(self, namespace: str | None, name: str) -> bool:
        if name in SKIPPED or namespace == "?":
            return False
        return namespace == NAMESPACE or (self.soap and namespace in (SOAP, None))

    def _is_container(self, namespace: str | None, name: str) -> bool:
        if self.soap:
            return namespace == SOAP and name in ("Header", "Body") and len(self.path) == 2
        return namespace == NAMESPACE and name == "edXMLHeader"


def read_packet(source: str | os.PathLike | BinaryIO, limits: XmlLimits = XmlLimits()) -> Packet:
    """Read the header of an edXML packet; raises XmlRejected for a hostile or foreign document."""
    walker = _Walker()
    events: Iterator = iter_elements(source, limits)
    for event, element in events:
        if event == "start":
            walker.start(element.tag)
        elif walker.end(element.text, len(element) == 0):
            events.close()
            break
    return _classify(walker.packet, walker.soap)


def _classify(packet: Packet, soap: bool) -> Packet:
    """Settle the layout; a MessageHeader status is re-keyed as ``Status/…``."""
    fields = packet.fields
    if "Status/StatusCode" in fields:
        packet.layout = "SOAP" if soap else "Status"
    elif "MessageHeader/StatusCode" in fields:
        prefix = len("MessageHeader/")
        packet.fields = {"Status/" + path[prefix:] if path.startswith("MessageHeader/") else path: values
                         for path, values in fields.items()}
        packet.layout = "MessageHeader"
    elif any(path.startswith("MessageHeader/") for path in fields):
        packet.layout = "document"
    else:
        raise XmlRejected("no MessageHeader or Status in the edXML header")
    return packet
