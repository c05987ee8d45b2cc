"""The `csv` source: spreadsheet exports (UTF-8 with/without BOM, Windows-1258) with a column mapping.

Files are read line by line from where the last run stopped (a grown file is read from where it
was), so a field may not contain a line break: such a row is quarantined with that reason.
"""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from pydantic import PositiveInt

from isobridge.core.adapters import AdapterOptions, CheckResult, Page, RawRecord, Source
from isobridge.core.caselog import RecordError
from isobridge.core.files import Line, files_in, read_lines

from .mapping import CsvMapping, RowMapper

BOM = b"\xef\xbb\xbf"


class CsvOptions(AdapterOptions):
    """Options of `[sources.NAME]` with `adapter = "csv"`."""

    folder: Path
    pattern: str = "**/*.csv"
    mapping: Path | None = None
    """Column mapping file; None: the bundled `csv-example.toml`."""
    page_lines: PositiveInt = 5000
    settle_seconds: float = 60.0
    """A last line without its newline is read only once the file is this old."""


def decode(raw: bytes, encoding: str) -> str:
    """Text of a line: UTF-8 (BOM dropped) or Windows-1258, in Unicode NFC."""
    if raw.startswith(BOM):
        raw = raw[3:]
    if encoding == "auto":
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("cp1258", "replace")
    else:
        text = raw.decode(encoding, "replace")
    return text if text.isascii() else unicodedata.normalize("NFC", text)


class CsvSource(Source):
    """Reads rows of CSV exports into case-log fragments through a declarative column mapping."""

    name = "csv"
    Options = CsvOptions

    def __init__(self, options: CsvOptions, context):
        super().__init__(options, context)
        self.mapping = CsvMapping.load(options.mapping)
        self.mapper = RowMapper(self.mapping, context.pseudonym)
        self._headers: dict[str, tuple[int, list[str]]] = {}

    def check(self) -> CheckResult:
        """The folder exists; reports how many files match."""
        try:
            count = len(files_in(self.options.folder, self.options.pattern))
        except FileNotFoundError as exc:
            return CheckResult(False, str(exc))
        return CheckResult(True, f"{count} files", {"files": count})

    def pages(self, cursor: str | None) -> Iterator[Page]:
        """Pages of rows not read before; the header line of each file is not a row."""
        o = self.options
        for lines, after in read_lines(o.folder, o.pattern, cursor, o.page_lines, o.settle_seconds):
            if lines:
                yield Page(self._records(lines), after)
            else:
                yield Page([], after)

    def _header(self, rel: str) -> list[str]:
        path = self.options.folder / rel
        mtime = path.stat().st_mtime_ns
        cached = self._headers.get(rel)
        if cached is None or cached[0] != mtime:
            with open(path, "rb") as handle:
                first = handle.readline().rstrip(b"\r\n")
            names = next(csv.reader([decode(first, self.mapping.encoding)], delimiter=self.mapping.delimiter), [])
            cached = self._headers[rel] = (mtime, [name.strip() for name in names])
        return cached[1]

    def _records(self, lines: list[Line]) -> list[RawRecord]:
        encoding, delimiter = self.mapping.encoding, self.mapping.delimiter
        headers = {path: self._header(path) for path in {line.path for line in lines}}
        records = []
        for line in lines:
            if line.offset == 0:
                continue
            text = decode(line.text, encoding)
            data: object
            if '"' not in text:
                data = (headers[line.path], text.split(delimiter))
            else:
                try:
                    data = (headers[line.path], next(csv.reader((text,), delimiter=delimiter, strict=True)))
                except csv.Error as exc:
                    data = f"not a CSV row ({exc}); line breaks inside fields are not supported"
            records.append(RawRecord(line.key, text, data))
        return records

    def map(self, record: RawRecord) -> list[dict]:
        """The fragment of one row; a row that does not fit the mapping is quarantined."""
        if isinstance(record.data, str):
            raise RecordError([f"{record.key}: {record.data}"])
        header, row = record.data
        if len(row) != len(header):
            raise RecordError([f"{record.key}: {len(row)} fields, the header has {len(header)}"])
        missing = [c for c in self.mapping.columns.values() if c not in header]
        if missing:
            raise RecordError([f"{record.key}: columns {missing} are not in the file's header"])
        return [self.mapper.fragment(dict(zip(header, row)))]
