"""Streaming reader of edXML packets (QCVN 102:2016): the header fields, nothing else.

The reader walks the document with the hardened :func:`~isobridge.core.xmlsafe.iter_elements`,
keeps the text of the leaf elements of `edXMLHeader` under their path relative to the header
(e.g. ``MessageHeader/From/OrganId``), and stops as soon as the header is closed: the manifest
and the `AttachmentEncoded` content that follow are never read, let alone decoded. An
`AttachmentEncoded` found inside the header is skipped the same way.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from isobridge.core.xmlsafe import XmlLimits, XmlRejected, iter_elements

NAMESPACE = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
_NS = "{" + NAMESPACE + "}"
SKIPPED = frozenset({"AttachmentEncoded", "Signature", "Attachment"})


@dataclass
class Packet:
    """The header of one edXML packet: leaf paths (relative to edXMLHeader) → texts in order."""

    fields: dict[str, list[str]] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """"status" for a status packet, "document" for a document packet, "" otherwise."""
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


def _local(tag: object) -> str | None:
    """Local name of an edXML element (None for other namespaces, comments, PIs)."""
    if isinstance(tag, str) and tag.startswith(_NS):
        return tag[len(_NS):]
    return None


def read_packet(source: str | os.PathLike | BinaryIO, limits: XmlLimits = XmlLimits()) -> Packet:
    """Read the header of an edXML packet; raises XmlRejected for a hostile or foreign document."""
    packet = Packet()
    path: list[str] = []
    skipping = 0
    events: Iterator = iter_elements(source, limits)
    for event, element in events:
        name = _local(element.tag)
        if event == "start":
            if not path and name != "edXML":
                raise XmlRejected(f"root element is {element.tag!r}, not edXML:edXML of {NAMESPACE}")
            path.append(name or "")
            if skipping or name in SKIPPED or name is None:
                skipping += 1
            continue
        if skipping:
            skipping -= 1
        elif "edXMLHeader" in path and name != "edXMLHeader" and len(element) == 0:
            key = "/".join(path[path.index("edXMLHeader") + 1:])
            packet.fields.setdefault(key, []).append((element.text or "").strip())
        path.pop()
        if name == "edXMLHeader":
            events.close()
            break
    if not packet.kind:
        raise XmlRejected("no MessageHeader or Status in the edXML header")
    return packet
