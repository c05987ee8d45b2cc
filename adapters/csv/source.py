"""The `csv` source: spreadsheet exports (CSV in UTF-8 with/without BOM or Windows-1258, and XLSX)
with a column mapping.

Files are read line by line from where the last run stopped (a grown file is read from where it
was), so a field may not contain a line break: such a row is quarantined with that reason.
A page of lines is decoded at once; each row is split when mapped, by a plan compiled from the
mapping once per file header (see :class:`~isobridge.adapters.csv.mapping.RowPlan`).
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterator
from itertools import repeat
from pathlib import Path

from pydantic import PositiveInt

from isobridge.core.adapters import AdapterOptions, CheckResult, Page, RawRecord, Source
from isobridge.core.caselog import RecordError
from isobridge.core.files import LineBlock, dump_cursor, files_in, load_cursor, read_line_blocks

from .mapping import CsvMapping, RowMapper, RowPlan
from .xlsx import XlsxError, row_line, sheet_rows

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
    xlsx_pattern: str | None = "**/*.xlsx"
    """XLSX workbooks read with the same mapping (None: none)."""
    xlsx_sheet: str | None = None
    """Sheet to read; None: the first one."""


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


NFC_INERT = bytes(range(0xC0)) + bytes(range(0xC2, 0xCA)) + b"\xe1"
"""UTF-8 bytes of ASCII, U+0080–U+027F and (lead byte E1) U+1000–U+1FFF."""
OUTSIDE_1E00 = re.compile(rb"\xe1[^\xb8-\xbb]")
"""A lead byte E1 of a character outside U+1E00–U+1EFF."""


def nfc_inert(raw: bytes) -> bool:
    """Whether UTF-8 `raw` holds only characters that NFC leaves as they are, whatever their
    neighbours: ASCII, U+0080–U+027F (Latin-1, Latin Extended-A/B: đ ă ơ ư …) and U+1E00–U+1EFF
    (Latin Extended Additional: every precomposed Vietnamese letter with its tone mark); none
    of them decomposes or combines with a neighbour. A text of them needs no normalisation.

    Checked on the bytes, three times faster than `unicodedata.is_normalized` on the text;
    anything else (a combining mark, a BOM, other scripts) answers False. Bytes that are not
    UTF-8 decode to U+FFFD, which is inert too.
    """
    return not raw.translate(None, NFC_INERT) and not OUTSIDE_1E00.search(raw)


def decode_lines(lines: list[bytes], encoding: str) -> list[str]:
    """Texts of raw lines (line breaks dropped), each as :func:`decode` gives it.

    Decoding is the bulk of reading, so a page takes a path with no Python step per line when it
    can: every line decoded by one `map` over the page (in C), then one NFC check for the page:
    on the bytes (:func:`nfc_inert`), else on the page joined with line feeds (a line feed never
    composes, so the page is NFC exactly when every line is). A page with a line that is not
    UTF-8 (encoding `auto`) is decoded line by line by :func:`decode`.
    """
    if not lines:
        return []
    stripped = map(bytes.rstrip, lines, repeat(b"\r\n"))
    if encoding == "auto":
        try:
            texts = list(map(bytes.decode, stripped))
        except UnicodeDecodeError:  # a Windows-1258 line somewhere: decide line by line
            return [decode(line.rstrip(b"\r\n"), encoding) for line in lines]
    else:
        texts = list(map(bytes.decode, stripped, repeat(encoding), repeat("replace")))
    raw = b"".join(lines)
    if raw.isascii() or (encoding != "cp1258" and nfc_inert(raw)):
        return texts
    page = "\n".join(texts)
    if not unicodedata.is_normalized("NFC", page):
        page = unicodedata.normalize("NFC", page)
        texts = page.split("\n")
    if encoding != "cp1258" and "\ufeff" in page:
        texts = [text[1:] if text.startswith("\ufeff") else text for text in texts]
    return texts


class CsvSource(Source):
    """Reads rows of CSV exports into case-log fragments through a declarative column mapping."""

    name = "csv"
    Options = CsvOptions

    def __init__(self, options: CsvOptions, context):
        super().__init__(options, context)
        self.folder = context.resolve(options.folder)
        self.mapping = CsvMapping.load(context.resolve(options.mapping) if options.mapping else None)
        self.mapper = RowMapper(self.mapping, context.pseudonym)
        self._plans: dict[str, tuple[int, RowPlan]] = {}

    def check(self) -> CheckResult:
        """The folder exists; reports how many files match."""
        try:
            count = len(files_in(self.folder, self.options.pattern))
        except FileNotFoundError as exc:
            return CheckResult(False, str(exc))
        return CheckResult(True, f"{count} files", {"files": count})

    def pages(self, cursor: str | None) -> Iterator[Page]:
        """Pages of rows not read before (CSV lines, then XLSX rows); a header is not a row."""
        o = self.options
        for block, cursor in read_line_blocks(self.folder, o.pattern, cursor, o.page_lines, o.settle_seconds):
            yield Page(self._records(block), cursor)
        if o.xlsx_pattern:
            yield from self._workbook_pages(cursor)

    def _workbook_pages(self, cursor: str | None) -> Iterator[Page]:
        """Rows of new or changed workbooks, resuming after the last row a committed page held."""
        state = load_cursor(cursor)
        for path in files_in(self.folder, self.options.xlsx_pattern):
            rel = path.relative_to(self.folder).as_posix()
            stat = path.stat()
            mark = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
            seen = state.get(rel, {})
            same = all(seen.get(key) == value for key, value in mark.items())
            if same and seen.get("complete"):
                continue
            yield from self._workbook(path, rel, seen.get("rows", 0) if same else 0, mark, state)

    def _workbook(self, path: Path, rel: str, done: int, mark: dict, state: dict) -> Iterator[Page]:
        page: list[RawRecord] = []
        last = done
        try:
            rows = sheet_rows(path, self.options.xlsx_sheet)
            plan = self._workbook_plan(rel, next(rows, []), mark["mtime_ns"])
            for number, cells in enumerate(rows, start=2):  # spreadsheet row numbers; 1 is the header
                if number - 1 <= done:
                    continue
                page.append(RawRecord(f"{rel}:{number}", row_line(cells, self.mapping.delimiter), plan))
                last = number - 1
                if len(page) >= self.options.page_lines:
                    state[rel] = {**mark, "rows": last}
                    yield Page(page, dump_cursor(state))
                    page = []
        except XlsxError as exc:
            page.append(RawRecord(f"{rel}:0", f"{rel} ({mark['size']} bytes of XLSX)", exc))
        state[rel] = {**mark, "rows": last, "complete": True}
        yield Page(page, dump_cursor(state))

    def _workbook_plan(self, rel: str, header: list[str], mtime: int) -> RowPlan:
        plan = self.mapper.plan([name.strip() for name in header])
        self._plans[rel] = (mtime, plan)
        return plan

    def _plan(self, rel: str) -> RowPlan:
        """The mapping plan for a file's header (read again when the file changed)."""
        path = self.folder / rel
        mtime = path.stat().st_mtime_ns
        cached = self._plans.get(rel)
        if (cached is None or cached[0] != mtime) and rel.lower().endswith(".xlsx"):
            return self._workbook_plan(rel, next(sheet_rows(path, self.options.xlsx_sheet), []), mtime)
        if cached is None or cached[0] != mtime:
            with open(path, "rb") as handle:
                first = handle.readline().rstrip(b"\r\n")
            names = next(csv.reader([decode(first, self.mapping.encoding)], delimiter=self.mapping.delimiter), [])
            cached = self._plans[rel] = (mtime, self.mapper.plan([name.strip() for name in names]))
        return cached[1]

    def _records(self, block: LineBlock) -> list[RawRecord]:
        offsets, lines = block.offsets, block.lines
        if offsets and offsets[0] == 0:  # the header line
            offsets, lines = offsets[1:], lines[1:]
        if not lines:
            return []
        plan, path = self._plan(block.path), block.path
        texts = decode_lines(lines, self.mapping.encoding)
        keys = [f"{path}:{offset}" for offset in offsets]
        return list(map(RawRecord, keys, texts, repeat(plan)))

    def map(self, record: RawRecord) -> list[dict]:
        """The fragment of one row; a row that does not fit the mapping is quarantined.

        A plain line takes the plan's fast path (:meth:`RowPlan.plain`); any other line, and a
        record replayed from the quarantine (no plan attached: its file's header is found
        again), the validating one.
        """
        plan = record.data
        if plan.__class__ is RowPlan:
            fragment = plan.plain(record.payload)
            if fragment is not None:
                return [fragment]
        return self._map_row(record)

    def _map_row(self, record: RawRecord) -> list[dict]:
        """The fragment of one row, through the validating path: every problem is named."""
        if isinstance(record.data, XlsxError):
            raise RecordError([f"{record.key}: {record.data}"])
        plan = record.data if record.data is not None else self._replayed_plan(record.key)
        text, delimiter = record.payload, self.mapping.delimiter
        if '"' not in text:
            row = text.split(delimiter)
        else:
            try:
                row = next(csv.reader((text,), delimiter=delimiter, strict=True))
            except csv.Error as exc:
                raise RecordError([f"{record.key}: not a CSV row ({exc}); line breaks inside fields"
                                   " are not supported"]) from None
        if len(row) != plan.width:
            raise RecordError([f"{record.key}: {len(row)} fields, the header has {plan.width}"])
        if plan.missing:
            raise RecordError([f"{record.key}: columns {plan.missing} are not in the file's header"])
        return [plan.fragment(row)]

    def quarantine_payload(self, record: RawRecord) -> str:
        """The row with its personal columns pseudonymised (a row that does not parse stays as it is)."""
        plan = record.data if isinstance(record.data, RowPlan) else None
        if plan is None and not isinstance(record.data, XlsxError):
            try:
                plan = self._replayed_plan(record.key)
            except RecordError:
                return record.payload
        delimiter = self.mapping.delimiter
        try:
            row = next(csv.reader((record.payload,), delimiter=delimiter, strict=True))
        except (csv.Error, StopIteration):
            return record.payload
        for at in (plan.personal if plan is not None else []):
            if at < len(row) and row[at] and not row[at].startswith("p-"):
                row[at] = self.context.pseudonym(row[at]) or ""
        return row_line(row, delimiter)

    def _replayed_plan(self, key: str) -> RowPlan:
        rel = key.rpartition(":")[0]
        try:
            return self._plan(rel)
        except OSError as exc:
            raise RecordError([f"{key}: cannot read the header of {rel} ({exc.strerror or type(exc).__name__})"]) from None
        except XlsxError as exc:
            raise RecordError([f"{key}: {exc}"]) from None
