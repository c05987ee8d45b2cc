"""The `dvcqg` source: national-portal sync payloads from JSON files (or an HTTP endpoint)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import orjson
from pydantic import HttpUrl, PositiveInt, SecretStr

from isobridge.core.adapters import AdapterOptions, CheckResult, Page, RawRecord, Source
from isobridge.core.caselog import RecordError
from isobridge.core.files import changed_documents, files_in

from .http import fetch_payload
from .mapping import DvcqgMapping, PayloadMapper

DOSSIER, PROGRESS = "DongBoHoSoMC", "CapNhatTienDoHoSoMC"
SERVICES = {DOSSIER: DOSSIER, "DongBoTrangThaiHoSo": DOSSIER, PROGRESS: PROGRESS,
            "DongBoTienTrinh": PROGRESS}


class DvcqgOptions(AdapterOptions):
    """Options of `[sources.NAME]` with `adapter = "dvcqg"`."""

    folder: Path | None = None
    """Folder of JSON payload files."""
    pattern: str = "**/*.json"
    mapping: Path | None = None
    """Mapping file; None: the bundled `dvcqg.toml`."""
    url: HttpUrl | None = None
    """HTTP endpoint answering with a payload instead of a folder."""
    token: SecretStr | None = None
    verify: bool | str = True
    timeout: float = 30.0
    max_bytes: PositiveInt = 64 * 1024 * 1024
    page_size: PositiveInt = 1000


def payload_items(body: bytes) -> list[tuple[str, object]]:
    """(service, item) pairs of a payload: a request body with `service`/`data`, a list, or one object."""
    document = orjson.loads(body)
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
    return ""


class DvcqgSource(Source):
    """Reads DongBoHoSoMC dossiers and CapNhatTienDoHoSoMC progress rows."""

    name = "dvcqg"
    Options = DvcqgOptions

    def __init__(self, options: DvcqgOptions, context):
        super().__init__(options, context)
        if (options.folder is None) == (options.url is None):
            raise ValueError("dvcqg source: set exactly one of `folder` and `url`")
        self.mapper = PayloadMapper(DvcqgMapping.load(options.mapping), context.pseudonym)

    def check(self) -> CheckResult:
        """The folder exists (or the endpoint answers)."""
        o = self.options
        try:
            if o.folder is not None:
                count = len(files_in(o.folder, o.pattern))
                return CheckResult(True, f"{count} payload files", {"files": count})
            fetch_payload(str(o.url), o.token, o.verify, o.timeout, o.max_bytes)
            return CheckResult(True, "endpoint reachable", {"reachable": True})
        except Exception as exc:
            return CheckResult(False, f"{type(exc).__name__}: {exc}")

    def pages(self, cursor: str | None) -> Iterator[Page]:
        """Pages of payload items from files not read before (a changed file is read again)."""
        if self.options.folder is None:
            yield from self._http_pages(cursor)
            return
        folder = self.options.folder
        for paths, after in changed_documents(folder, self.options.pattern, cursor, self.options.page_size):
            yield Page([r for path in paths for r in self._records(path.relative_to(folder).as_posix(), path)], after)

    def _http_pages(self, cursor: str | None) -> Iterator[Page]:
        o = self.options
        body = fetch_payload(str(o.url), o.token, o.verify, o.timeout, o.max_bytes)
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if digest == cursor:
            return
        records = self._decode("response", body)
        for start in range(0, len(records), o.page_size):
            end = start + o.page_size
            yield Page(records[start:end], digest if end >= len(records) else cursor)

    def _records(self, key: str, path: Path) -> list[RawRecord]:
        size = path.stat().st_size
        if size > self.options.max_bytes:
            return [RawRecord(key, "", f"file is {size} bytes, larger than the limit of {self.options.max_bytes}")]
        return self._decode(key, path.read_bytes())

    def _decode(self, key: str, body: bytes) -> list[RawRecord]:
        try:
            items = payload_items(body)
        except orjson.JSONDecodeError as exc:
            return [RawRecord(key, body[:65536].decode("utf-8", "replace"), f"not valid JSON: {exc}")]
        return [RawRecord(f"{key}#{index}", orjson.dumps(item).decode(), (service, item))
                for index, (service, item) in enumerate(items)]

    def map(self, record: RawRecord) -> list[dict]:
        """Fragments of one dossier or progress row; a bad item is quarantined with every reason."""
        if isinstance(record.data, str):
            raise RecordError([f"{record.key}: {record.data}"])
        service, item = record.data
        if not isinstance(item, dict):
            raise RecordError([f"{record.key}: expected a JSON object, got {type(item).__name__}"])
        if service == DOSSIER:
            return self.mapper.dossier(item)
        if service == PROGRESS:
            return self.mapper.progress(item)
        raise RecordError([f"{record.key}: neither a dossier (DongBoHoSoMC) nor a progress row (CapNhatTienDoHoSoMC)"])
