"""The `edxml` source: edXML packets from a folder (or an HTTP endpoint) as case-log fragments."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

from pydantic import HttpUrl, PositiveInt, SecretStr

from isobridge.core.adapters import AdapterOptions, CheckResult, Page, RawRecord, Source
from isobridge.core.caselog import RecordError
from isobridge.core.files import changed_documents, files_in
from isobridge.core.xmlsafe import XmlLimits, XmlRejected

from .http import fetch_packets
from .mapping import EdxmlMapping, PacketMapper
from .packet import Packet, read_packet


class EdxmlOptions(AdapterOptions):
    """Options of `[sources.NAME]` with `adapter = "edxml"`."""

    folder: Path | None = None
    """Folder of packets (one packet per file)."""
    pattern: str = "**/*.xml"
    mapping: Path | None = None
    """Mapping file; None: the bundled `edxml.toml`."""
    url: HttpUrl | None = None
    """HTTP endpoint listing packets instead of a folder."""
    token: SecretStr | None = None
    verify: bool | str = True
    timeout: float = 30.0
    max_bytes: PositiveInt = 100 * 1024 * 1024
    max_depth: PositiveInt = 64
    page_size: PositiveInt = 200


class EdxmlSource(Source):
    """Reads edXML document and status packets into inter-agency hand-off events."""

    name = "edxml"
    Options = EdxmlOptions

    def __init__(self, options: EdxmlOptions, context):
        super().__init__(options, context)
        if (options.folder is None) == (options.url is None):
            raise ValueError("edxml source: set exactly one of `folder` and `url`")
        self.limits = XmlLimits(options.max_bytes, options.max_depth)
        self.mapper = PacketMapper(EdxmlMapping.load(options.mapping), context.pseudonym)

    def check(self) -> CheckResult:
        """The folder exists and holds packets (or the endpoint answers)."""
        try:
            if self.options.folder is not None:
                count = len(files_in(self.options.folder, self.options.pattern))
                return CheckResult(True, f"{count} packet files", {"files": count})
            fetch_packets(str(self.options.url), None, self.options.token, self.options.verify,
                          self.options.timeout)
            return CheckResult(True, "endpoint reachable", {"reachable": True})
        except Exception as exc:
            return CheckResult(False, f"{type(exc).__name__}: {exc}")

    def pages(self, cursor: str | None) -> Iterator[Page]:
        """Pages of packets not read before (a changed file is read again)."""
        if self.options.folder is None:
            yield from self._http_pages(cursor)
            return
        folder = self.options.folder
        for paths, after in changed_documents(folder, self.options.pattern, cursor, self.options.page_size):
            yield Page([self._record(path.relative_to(folder).as_posix(), path) for path in paths], after)

    def _http_pages(self, cursor: str | None) -> Iterator[Page]:
        o = self.options
        packets = fetch_packets(str(o.url), cursor, o.token, o.verify, o.timeout)
        for start in range(0, len(packets), o.page_size):
            chunk = packets[start:start + o.page_size]
            records = [self._record(f"packet:{ident}", io.BytesIO(data)) for ident, data in chunk]
            yield Page(records, chunk[-1][0])

    def _record(self, key: str, source) -> RawRecord:
        """Read one packet's header; a rejected packet carries its reason (map quarantines it)."""
        try:
            packet: Packet | str = read_packet(source, self.limits)
        except XmlRejected as exc:
            packet = str(exc)
        except OSError as exc:
            packet = f"cannot read the packet: {exc.strerror or type(exc).__name__}"
        summary = {"packet": key}
        if isinstance(packet, Packet):
            summary["header"] = packet.fields
        else:
            summary["rejected"] = packet
        return RawRecord(key, json.dumps(summary, ensure_ascii=False), packet)

    def map(self, record: RawRecord) -> list[dict]:
        """Fragments of one packet; a rejected packet is quarantined with its reason."""
        if isinstance(record.data, str):
            raise RecordError([f"{record.key}: {record.data}"])
        return self.mapper.fragments(record.data)
