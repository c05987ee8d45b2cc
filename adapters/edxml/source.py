"""The `edxml` source: edXML packets from a folder (or an HTTP endpoint) as case-log fragments.

HTTP mode: ``GET url?after=<last id>&limit=<page_size>`` answers a JSON list of
``{"id": ..., "edxml": "<xml>"}`` in id order (the packets after that id); the cursor of each
page is the id of its last packet. An endpoint that ignores `limit` still works (its answer is
cut into pages); one that ignores both `after` and `limit` is read once (its answer is all it
has); one answering a page it answered before stops the run with RepeatedPage (checkpoint kept).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

from pydantic import Field, PositiveInt

from isobridge.core import (
    AfterCursorPaging, Answer, changed_documents, check_folder, check_reachability, CheckResult, document_client,
    document_folder, DocumentSourceOptions, LIBXML_MAX_DEPTH, MalformedResponse, Page, PageGuard, RawRecord,
    RecordError, Source, XmlLimits, XmlRejected
)

from .mapping import EdxmlMapping, PacketMapper
from .packet import LAYOUTS, Packet, read_packet

LISTING = 'a JSON list of {"id", "edxml"} packets'


class EdxmlOptions(DocumentSourceOptions):
    """Options of `[sources.NAME]` with `adapter = "edxml"` (one packet per file or list item)."""

    pattern: str = "**/*.xml"
    max_bytes: PositiveInt = 100 * 1024 * 1024
    max_depth: PositiveInt = Field(64, le=LIBXML_MAX_DEPTH, description="Deeper XML nesting is quarantined.")


class EdxmlSource(Source):
    """Reads edXML document and status packets into inter-agency hand-off events."""

    name = "edxml"
    Options = EdxmlOptions
    parallel_map = True  # map reads only the record and the mapping

    def __init__(self, options: EdxmlOptions, context):
        super().__init__(options, context)
        self.folder = document_folder(options, context)
        self.http = document_client(options)
        self.limits = XmlLimits(options.max_bytes, options.max_depth)
        mapping = context.resolve(options.mapping) if options.mapping else None
        self.mapper = PacketMapper(EdxmlMapping.load(mapping), context.pseudonym)

    def check(self) -> CheckResult:
        """The folder exists and holds packets (or the endpoint answers with a packet list)."""
        if self.http is None:
            return check_folder(self.folder, self.options.pattern, "packet")
        return check_reachability(self.http, lambda: isinstance(self._list({"limit": 1}), list))

    def pages(self, cursor: str | None) -> Iterator[Page]:
        """Pages of packets not read before (a changed file is read again)."""
        if self.http is not None:
            yield from self._http_pages(cursor)
            return
        folder = self.folder
        for paths, after in changed_documents(folder, self.options.pattern, cursor, self.options.page_size):
            yield Page([self._record(path.relative_to(folder).as_posix(), path) for path in paths], after)

    def _list(self, params: dict) -> list:
        items = self.http.get_json(str(self.options.url), params, expected=LISTING)
        if not isinstance(items, list) or not all(isinstance(i, dict) and "id" in i for i in items):
            raise MalformedResponse(f"GET {self.http.url(str(self.options.url))}: expected {LISTING}")
        return items

    def _http_pages(self, cursor: str | None) -> Iterator[Page]:
        size = self.options.page_size
        guard = PageGuard(f"edxml listing {self.http.url(str(self.options.url))}")
        paging = AfterCursorPaging(guard, size, cursor)  # ends on a short page, or an answer read already
        for answer in paging.walk(lambda at: Answer(self._list(at.params()))):
            for start in range(0, len(answer.items), size):  # an endpoint ignoring `limit`: cut into pages
                chunk = answer.items[start:start + size]
                yield Page([self._http_record(item) for item in chunk], str(chunk[-1]["id"]))

    def _http_record(self, item: dict) -> RawRecord:
        key, text = f"packet:{item['id']}", item.get("edxml")
        if not isinstance(text, str):
            return RawRecord(key, json.dumps({"packet": key, "rejected": "no edxml text"}), "no edxml text")
        return self._record(key, io.BytesIO(text.encode("utf-8")))

    def _record(self, key: str, source) -> RawRecord:
        """Read one packet's header, reduced at once to what the mapping needs (free text and
        officers pseudonymised); a rejected packet carries its reason (map quarantines it)."""
        try:
            packet: Packet | str = self.mapper.minimise(read_packet(source, self.limits))
        except XmlRejected as exc:
            packet = str(exc)
        except OSError as exc:
            packet = f"cannot read the packet: {exc.strerror or type(exc).__name__}"
        return RawRecord(key, _summary(key, packet), packet)

    def map(self, record: RawRecord) -> list[dict]:
        """Fragments of one packet; a rejected packet is quarantined with its reason.

        A record replayed from the quarantine (no decoded data) is read back from its payload.
        """
        data = record.data if record.data is not None else _from_payload(record.payload)
        if isinstance(data, str):
            raise RecordError([f"{record.key}: {data}"])
        return self.mapper.fragments(data)

    def quarantine_payload(self, record: RawRecord) -> str:
        """The minimised packet summary (no free text or officer in clear); a payload stored
        before minimising existed is minimised now. Replaying it maps to the same result."""
        data = record.data if record.data is not None else _from_payload(record.payload)
        if isinstance(data, Packet):
            return _summary(record.key, self.mapper.minimise(data))
        return record.payload

    def close(self) -> None:
        """Close the HTTP session."""
        if self.http is not None:
            self.http.close()


def _summary(key: str, packet: Packet | str) -> str:
    """The stored form of a read packet (its minimised header) or of its rejection."""
    if isinstance(packet, Packet):
        return json.dumps({"packet": key, "layout": packet.layout, "header": packet.fields}, ensure_ascii=False)
    return json.dumps({"packet": key, "rejected": packet}, ensure_ascii=False)


def _from_payload(payload: str) -> Packet | str:
    """The packet header (or the rejection reason) of a stored payload."""
    try:
        summary = json.loads(payload)
    except ValueError:
        return "the stored payload is not a packet summary"
    if isinstance(summary, dict) and isinstance(summary.get("header"), dict):
        layout = summary.get("layout") if summary.get("layout") in LAYOUTS else ""
        fields = {str(k): [str(v) for v in vs] for k, vs in summary["header"].items() if isinstance(vs, list)}
        return Packet(fields, layout)
    if isinstance(summary, dict) and isinstance(summary.get("rejected"), str):
        return summary["rejected"]
    return "the stored payload is not a packet summary"
