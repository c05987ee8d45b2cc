"""The `dvcqg` source: national-portal sync payloads from JSON files (or an HTTP endpoint).

HTTP mode: one ``GET url`` answers such a payload. The cursor names the answer (a SHA-256 of
its canonical JSON) and how many of its items were read, so each page resumes after itself, an
unchanged answer is not read twice, and a changed one is read from its start (the ledger
de-duplicates the items it repeats).
"""

from __future__ import annotations

import codecs
import hashlib
from collections.abc import Iterator
from pathlib import Path

import orjson
from pydantic import PositiveInt

from isobridge.core import (
    changed_documents, check_folder, check_reachability, CheckResult, document_client, document_folder,
    DocumentSourceOptions, Page, RawRecord, RecordError, Source
)

from .check import unmapped_codes
from .mapping import DOSSIER, PROGRESS, STATUS_ONLY, DvcqgMapping, PayloadMapper
from .privacy import FILE_MARK, minimal_item, scrubbed_file

SERVICES = {DOSSIER: DOSSIER, STATUS_ONLY: STATUS_ONLY, PROGRESS: PROGRESS, "DongBoTienTrinh": PROGRESS}
PAYLOAD = "a DongBoHoSoMC / CapNhatTienDoHoSoMC payload"
NOT_READ = ("DongBoTrangThaiHoSo is not read: OpenCPS sends it only for dossiers the national portal owns "
            "(systemId 5), with the portal's reference UUID as MaHoSo, no procedure, no due date, the "
            "reception date (or the time of sending) as NgayXuLy and a folded status (2 stands for 2, 4, 6, "
            "9, 10; 5 for 3, 5, 7, 8); nothing in it places a step or a status without guessing")


class DvcqgOptions(DocumentSourceOptions):
    """Options of `[sources.NAME]` with `adapter = "dvcqg"` (`page_size`: payload items per page)."""

    pattern: str = "**/*.json"
    page_size: PositiveInt = 1000
    profile: str | None = None
    """The mapping's profile for progress rows (None: the mapping's default `profile`)."""


def payload_items(body: bytes) -> list[tuple[str, object]]:
    """(service, item) pairs of a payload: a request body with `service`/`data`, a list, or one object
    (a UTF-8 byte-order mark, as Windows tools write one, is skipped)."""
    return document_items(orjson.loads(body[3:] if body.startswith(codecs.BOM_UTF8) else body))


def document_items(document: object) -> list[tuple[str, object]]:
    """(service, item) pairs of a decoded payload."""
    service = ""
    if isinstance(document, dict) and "data" in document:
        service = SERVICES.get(str(document.get("service", "")), "")
        document = document["data"]
    items = document if isinstance(document, list) else [document]
    return [(service or _guess(item), item) for item in items]


def _guess(item: object) -> str:
    if isinstance(item, dict):
        if "ThoiDiemXuLy" in item or "PhongBanXuLy" in item:
            return PROGRESS
        if "NgayTiepNhan" in item or "TrangThaiHoSo" in item or "MaTTHC" in item:
            return DOSSIER
        if "MaHoSoDonVi" in item or "NgayXuLy" in item:
            return STATUS_ONLY
    return ""


def _items_read(cursor: str | None, digest: str) -> int:
    """How many items of the answer named `digest` the cursor says were read (0: another answer)."""
    if not cursor:
        return 0
    if cursor.startswith("sha256:"):  # cursor of earlier versions: a whole answer
        return 1 << 62 if cursor == "sha256:" + digest else 0
    state = orjson.loads(cursor)
    if not isinstance(state, dict):
        raise ValueError(f"not a dvcqg cursor: {cursor[:80]!r}")
    return int(state.get("read", 0)) if state.get("sha256") == digest else 0


class DvcqgSource(Source):
    """Reads DongBoHoSoMC dossiers and CapNhatTienDoHoSoMC progress rows."""

    name = "dvcqg"
    Options = DvcqgOptions
    parallel_map = True  # map reads only the record and the mapping

    def __init__(self, options: DvcqgOptions, context):
        super().__init__(options, context)
        self.folder = document_folder(options, context)
        self.http = document_client(options)
        mapping = context.resolve(options.mapping) if options.mapping else None
        self.mapper = PayloadMapper(DvcqgMapping.load(mapping), context.pseudonym, options.profile)

    def check(self) -> CheckResult:
        """The folder exists (or the endpoint answers with JSON)."""
        if self.http is None:
            return check_folder(self.folder, self.options.pattern, "payload")
        return check_reachability(self.http, lambda: self._fetch() is not None)

    def pages(self, cursor: str | None) -> Iterator[Page]:
        """Pages of payload items from files not read before (a changed file is read again)."""
        if self.http is not None:
            yield from self._http_pages(cursor)
            return
        folder = self.folder
        for paths, after in changed_documents(folder, self.options.pattern, cursor, self.options.page_size):
            yield Page([r for path in paths for r in self._records(path.relative_to(folder).as_posix(), path)], after)

    def _fetch(self) -> object:
        return self.http.get_json(str(self.options.url), expected=PAYLOAD)

    def _http_pages(self, cursor: str | None) -> Iterator[Page]:
        document = self._fetch()
        digest = hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()
        records = self._records_of("response", document_items(document))
        size = self.options.page_size
        for start in range(_items_read(cursor, digest), len(records), size):
            end = min(start + size, len(records))
            yield Page(records[start:end], orjson.dumps({"read": end, "sha256": digest}).decode())

    def _records(self, key: str, path: Path) -> list[RawRecord]:
        size = path.stat().st_size
        if size > self.options.max_bytes:
            return [RawRecord(key, "", f"file is {size} bytes, larger than the limit of {self.options.max_bytes}")]
        body = path.read_bytes()
        try:
            items = payload_items(body)
        except orjson.JSONDecodeError as exc:
            reason = f"not valid JSON: {exc}"
            return [RawRecord(key, scrubbed_file(body, reason), reason)]
        return self._records_of(key, items)

    @staticmethod
    def _records_of(key: str, items: list[tuple[str, object]]) -> list[RawRecord]:
        return [RawRecord(f"{key}#{index}", orjson.dumps(item).decode(), (service, item))
                for index, (service, item) in enumerate(items)]

    def quarantine_payload(self, record: RawRecord) -> str:
        """Only what the mapping reads: dates, codes, units in clear; people as pseudonyms; the rest
        dropped (its key names listed under `_withheld`). A non-JSON file is kept as a scrubbed summary."""
        if not record.payload:
            return record.payload
        try:
            data = orjson.loads(record.payload)
        except orjson.JSONDecodeError as exc:
            return scrubbed_file(record.payload.encode("utf-8", "replace"), f"not valid JSON: {exc}")
        service = record.data[0] if isinstance(record.data, tuple) else ""
        return orjson.dumps(minimal_item(data, self.context.pseudonym, service)).decode()

    def map(self, record: RawRecord) -> list[dict]:
        """Fragments of one dossier or progress row; a bad item is quarantined with every reason.

        A record replayed from the quarantine (no decoded data) is decoded from its payload.
        """
        data = _decoded(record)
        if isinstance(data, str):
            raise RecordError([f"{record.key}: {data}"])
        service, item = data
        if not isinstance(item, dict):
            raise RecordError([f"{record.key}: expected a JSON object, got {type(item).__name__}"])
        if service == DOSSIER:
            return self.mapper.dossier(item)
        if service == PROGRESS:
            return self.mapper.progress(item)
        if service == STATUS_ONLY:
            dossier = str(item.get("MaHoSoDonVi") or item.get("MaHoSo") or "?")[:60]
            raise RecordError([f"dossier {dossier}: {NOT_READ}"])
        raise RecordError([f"{record.key}: neither a dossier (DongBoHoSoMC) nor a progress row (CapNhatTienDoHoSoMC)"])

    def unmapped(self, record: RawRecord) -> set[tuple[str, str]]:
        """For `mapping check`: rows no rule places, rules read as unconfirmed, statuses and services not read."""
        data = _decoded(record)
        if isinstance(data, str) or not isinstance(data[1], dict):
            return set()
        return unmapped_codes(data[0], data[1], self.mapper)

    def close(self) -> None:
        """Close the HTTP session."""
        if self.http is not None:
            self.http.close()


def _decoded(record: RawRecord) -> tuple[str, object] | str:
    """(service, item) of a record, decoded from its payload when replayed; or why it cannot be read."""
    return record.data if record.data is not None else _from_payload(record.payload)


def _from_payload(payload: str) -> tuple[str, object] | str:
    """(service, item) of a stored item payload, or why it cannot be read."""
    try:
        item = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        return f"not valid JSON: {exc}"
    if isinstance(item, dict) and item.get(FILE_MARK) is True:
        return str(item.get("reason") or "not valid JSON")
    if isinstance(item, dict) and item.get("_service") in SERVICES:
        return SERVICES[item["_service"]], item
    return _guess(item), item
