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
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path

from pydantic import PositiveInt

from isobridge.core import (
    AdapterOptions, check_folder, CheckResult, dump_cursor, files_in, LineBlock, LineTooLong, load_cursor,
    mark, MAX_LINE_BYTES, nfc, Page, RawRecord, read_line_blocks, RecordError, Source
)

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
    """A file ending inside a quoted field waits this long for the rest (then that row is
    quarantined); a last line without its line break is never read until it ends."""
    xlsx_pattern: str | None = "**/*.xlsx"
    """XLSX workbooks read with the same mapping (None: none)."""
    xlsx_sheet: str | None = None
    """Sheet to read; None: the first one."""


def decode(raw: bytes, encoding: str) -> str:
    """Text of a line: UTF-8 (BOM dropped) or Windows-1258, in Unicode NFC. A byte the encoding
    does not define becomes a lone surrogate (U+DC80–U+DCFF), never U+FFFD: its row is
    quarantined (see :data:`UNDECODED`)."""
    if raw.startswith(BOM):
        raw = raw[3:]
    if encoding == "auto":
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("cp1258", "surrogateescape")
    else:
        text = raw.decode(encoding, "surrogateescape")
    return nfc(text)


LONG = "\x00"
"""The text standing for a line too long to read (see :class:`~isobridge.core.files.LineTooLong`)."""
UNDECODED = re.compile("[\udc80-\udcff]")
"""A byte its encoding does not define, as :func:`decode` keeps it."""
ESCAPED_BYTE = re.compile(r"\\x[89a-f][0-9a-f]")
"""Such a byte as the quarantine shows it (`\\xNN`)."""


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
    anything else (a combining mark, a BOM, other scripts, bytes that are not UTF-8) answers False.
    """
    return not raw.translate(None, NFC_INERT) and not OUTSIDE_1E00.search(raw)


def decode_lines(lines: list[bytes], encoding: str) -> list[str]:
    """Texts of raw lines (line breaks dropped), each as :func:`decode` gives it (see :func:`decode_page`)."""
    return decode_page(lines, encoding)[0]


def decode_page(lines: list[bytes], encoding: str) -> tuple[list[str], bool]:
    """Texts of raw lines (line breaks dropped), each as :func:`decode` gives it, and whether
    every line decoded without an undefined byte (False: look for :data:`UNDECODED`).

    Decoding is the bulk of reading, so a page takes a path with no Python step per line when it
    can: every line decoded by one `map` over the page (in C), then one NFC check for the page:
    on the bytes (:func:`nfc_inert`), else on the page joined with line feeds (a line feed never
    composes, so the page is NFC exactly when every line is). A page with a line that is not
    UTF-8 (encoding `auto`) is decoded line by line by :func:`decode`.
    """
    if not lines:
        return [], True
    stripped = map(bytes.rstrip, lines, repeat(b"\r\n"))
    clean = True
    if encoding == "auto":
        try:
            texts = list(map(bytes.decode, stripped))
        except UnicodeDecodeError:  # a Windows-1258 line somewhere: decide line by line
            return [decode(line.rstrip(b"\r\n"), encoding) for line in lines], False
    else:
        try:
            texts = list(map(bytes.decode, stripped, repeat(encoding)))
        except UnicodeDecodeError:
            clean = False
            texts = list(map(bytes.decode, map(bytes.rstrip, lines, repeat(b"\r\n")), repeat(encoding),
                             repeat("surrogateescape")))
    raw = b"".join(lines)
    if raw.isascii() or (encoding != "cp1258" and clean and nfc_inert(raw)):
        return texts, clean
    page = "\n".join(texts)
    if not unicodedata.is_normalized("NFC", page):
        page = unicodedata.normalize("NFC", page)
        texts = page.split("\n")
    if encoding != "cp1258" and "\ufeff" in page:
        texts = [text[1:] if text.startswith("\ufeff") else text for text in texts]
    return texts, clean


def join_quoted(offsets: list[int], texts: list[str]) -> tuple[list[int], list[str], tuple[list[int], list[str]]]:
    """Rows from lines: a line that leaves a quoted field open (an odd number of quote marks so
    far) is joined to the lines after it with line breaks, until the field closes. A blank line
    is no row, except inside a quoted field, where it stays part of the field.

    Returns the rows' first-line offsets, the rows, and the lines of a last row still open
    when the lines run out (both lists empty when there is none).
    """
    if not any('"' in text for text in texts):
        if "" in texts or any(map(str.isspace, texts)):
            kept = [(at, text) for at, text in zip(offsets, texts) if text and not text.isspace()]
            offsets, texts = [at for at, _ in kept], [text for _, text in kept]
        return offsets, texts, ([], [])
    row_offsets, rows = [], []
    index, count = 0, len(texts)
    while index < count:
        start, parts, open_quote = index, [texts[index]], texts[index].count('"') % 2
        index += 1
        if not parts[0] or parts[0].isspace():
            continue
        while open_quote and index < count:
            parts.append(texts[index])
            open_quote ^= texts[index].count('"') % 2
            index += 1
        if open_quote:
            return row_offsets, rows, (offsets[start:], texts[start:])
        row_offsets.append(offsets[start])
        rows.append("\n".join(parts) if len(parts) > 1 else parts[0])
    return row_offsets, rows, ([], [])


class Undecodable:
    """What a row holding a byte its encoding does not define carries instead of its plan."""

    def __init__(self, encoding: str, plan: RowPlan):
        self.encoding, self.plan = encoding, plan

    def __str__(self) -> str:
        return (f"not valid text in the mapping's encoding ({self.encoding}): a byte it does not define;"
                " the row is never read with replacement characters")


@dataclass
class _Held:
    """The lines of a row whose quoted field was still open at the end of a page."""

    path: str
    offsets: list[int]
    texts: list[str]
    after: str
    """The cursor after those lines (the page that held them back stopped before them)."""


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
        self._long: dict[tuple[str, int], int] = {}

    def check(self) -> CheckResult:
        """The folder exists; reports how many files match."""
        return check_folder(self.folder, self.options.pattern, "CSV")

    def pages(self, cursor: str | None) -> Iterator[Page]:
        """Pages of rows not read before (CSV lines, then XLSX rows); a header is not a row.

        A row whose quoted field holds line breaks spans several lines; when a page ends inside
        it, the page's cursor stops before the row and the row goes with the next page.
        """
        o = self.options
        held: _Held | None = None
        pins: dict[str, dict] = {}  # files whose cursor stays before a row still being written
        blocks = read_line_blocks(self.folder, o.pattern, cursor, o.page_lines, o.settle_seconds, keep_blank=True)
        for block, after in blocks:
            ready = [self._ended_inside(held, pins)] if held is not None and held.path != block.path else []
            offsets, texts, clean = self._texts(block)
            if held is not None and held.path == block.path:
                offsets, texts, clean = held.offsets + offsets, held.texts + texts, False
            offsets, texts, rest = join_quoted(offsets, texts)
            held = _Held(block.path, *rest, after) if rest[0] else None
            ready.append(Page(self._rows(block.path, offsets, texts, clean), self._pinned(after, pins, held)))
            for page in ready:
                if page.records or page.cursor != cursor:  # a page that neither reads nor moves is no page
                    cursor = page.cursor
                    yield page
        if held is not None and (page := self._ended_inside(held, pins)).cursor != cursor:
            cursor = page.cursor
            yield page
        if o.xlsx_pattern:
            yield from self._workbook_pages(cursor)

    def _ended_inside(self, held: "_Held", pins: dict[str, dict]) -> Page:
        """A file ended inside a quoted field. Once the file has settled that row is a row (one
        that will not parse: quarantined); before, it may still be being written: the cursor
        stays before it from now on, and the next run reads it again."""
        modified = (self.folder / held.path).stat().st_mtime
        if time.time() - modified >= self.options.settle_seconds:
            return Page(self._rows(held.path, held.offsets, held.texts), self._pinned(held.after, pins, None))
        pins[held.path] = self._mark_before(held)
        return Page([], self._pinned(held.after, pins, None))

    def _pinned(self, after: str, pins: dict[str, dict], held: "_Held | None") -> str:
        """`after`, but with each pinned file, and the file of the row `held` back, before that row."""
        if not pins and held is None:
            return after
        state = load_cursor(after)
        state.update(pins)
        if held is not None:
            state[held.path] = self._mark_before(held)
        return dump_cursor(state)

    def _mark_before(self, held: "_Held") -> dict:
        path = self.folder / held.path
        return mark(path, path.stat(), held.offsets[0])

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
        """Records of a workbook's rows after row `done` + 1 (the header is the first non-blank
        row); a row or a workbook that cannot be read is one record carrying its XlsxError."""
        page: list[RawRecord] = []
        last = done
        try:
            rows = sheet_rows(path, self.options.xlsx_sheet)
            header = next(rows, (1, []))[1]
            plan = self._workbook_plan(rel, header if isinstance(header, list) else [], mark["mtime_ns"])
            for number, cells in rows:
                if number - 1 <= done:
                    continue
                payload = (f"{rel} row {number}" if isinstance(cells, XlsxError)
                           else row_line(cells, self.mapping.delimiter))
                page.append(RawRecord(f"{rel}:{number}", payload, cells if isinstance(cells, XlsxError) else plan))
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
            rows = sheet_rows(path, self.options.xlsx_sheet)
            try:
                header = next(rows, (1, []))[1]
            finally:
                rows.close()  # closes the workbook
            return self._workbook_plan(rel, header if isinstance(header, list) else [], mtime)
        if cached is None or cached[0] != mtime:
            with open(path, "rb") as handle:
                first = handle.readline(MAX_LINE_BYTES).rstrip(b"\r\n")  # bounded: a 2 GB header is no header
            names = next(csv.reader([decode(first, self.mapping.encoding)], delimiter=self.mapping.delimiter), [])
            cached = self._plans[rel] = (mtime, self.mapper.plan([name.strip() for name in names]))
        return cached[1]

    def _texts(self, block: LineBlock) -> tuple[list[int], list[str], bool]:
        """The block's line offsets and decoded texts, less the file's header line, and whether
        every line decoded cleanly (see :func:`decode_page`)."""
        offsets, lines = block.offsets, block.lines
        if offsets and offsets[0] == 0:  # the header line
            offsets, lines = offsets[1:], lines[1:]
        texts, clean = decode_page(lines, self.mapping.encoding)
        if block.long:  # over-long lines, never read: a row each, quarantined by _rows
            self._long.update({(block.path, at): length for at, length in block.long.items()})
            texts = [LONG if at in block.long else text for at, text in zip(offsets, texts)]
            clean = False
        return offsets, texts, clean

    def _rows(self, path: str, offsets: list[int], texts: list[str], clean: bool = False) -> list[RawRecord]:
        """One record per row, keyed by the offset of its first line; a row holding a byte its
        encoding does not define carries :class:`Undecodable` instead of the plan."""
        if not texts:
            return []
        plan = self._plan(path)
        keys = [f"{path}:{offset}" for offset in offsets]
        records = list(map(RawRecord, keys, texts, repeat(plan)))
        if not clean:
            for record, offset in zip(records, offsets):
                if record.payload is LONG and (path, offset) in self._long:
                    length = self._long[(path, offset)]
                    record.payload, record.data = f"{record.key} ({length} bytes)", LineTooLong(length)
                elif UNDECODED.search(record.payload):
                    record.data = Undecodable(self.mapping.encoding, plan)
        return records

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
        if isinstance(record.data, (XlsxError, Undecodable, LineTooLong)):
            raise RecordError([f"{record.key}: {record.data}"])
        if record.data is None and (ESCAPED_BYTE.search(record.payload) or "\ufffd" in record.payload):
            raise RecordError([f"{record.key}: holds bytes that were not valid text (kept as \\xNN or"
                               " U+FFFD in the quarantine); fix the file and read it again"])
        plan = record.data if record.data is not None else self._replayed_plan(record.key)
        text, delimiter = record.payload, self.mapping.delimiter
        if '"' not in text:
            row = text.split(delimiter)
        else:
            try:
                row = next(csv.reader((text,), delimiter=delimiter, strict=True))
            except csv.Error as exc:
                raise RecordError([f"{record.key}: not a CSV row ({exc}); a quoted field that is not"
                                   " closed before the end of the file?"]) from None
        if len(row) != plan.width:
            raise RecordError([f"{record.key}: {len(row)} fields, the header has {plan.width}"])
        if plan.missing:
            raise RecordError([f"{record.key}: columns {plan.missing} are not in the file's header"])
        return [plan.fragment(row)]

    def quarantine_payload(self, record: RawRecord) -> str:
        """The row for the quarantine: the mapped, non-personal columns in clear, every other cell
        (personal or unmapped columns) as a pseudonym; in a row that does not line up with its
        header (not CSV, another number of fields) every cell is a pseudonym."""
        if isinstance(record.data, (XlsxError, LineTooLong)):
            return record.payload  # our own description of the workbook, row or line, no cell in it
        plan = record.data.plan if isinstance(record.data, Undecodable) else record.data
        if not isinstance(plan, RowPlan):
            plan = None
            try:
                plan = self._replayed_plan(record.key)
            except RecordError:
                plan = None
        delimiter = self.mapping.delimiter
        text = record.payload.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        try:
            row = next(csv.reader((text,), delimiter=delimiter, strict=True))
        except (csv.Error, StopIteration):
            row = None
        if row is None or plan is None or len(row) != plan.width:
            try:
                row = next(csv.reader((text,), delimiter=delimiter), [])
            except csv.Error:  # a line break outside quotes: one cell
                row = [text]
            clear: frozenset[int] = frozenset()
        else:
            clear = plan.clear
        pseudonym = self.context.pseudonym
        return row_line([cell if at in clear or not cell or cell.startswith("p-") else pseudonym(cell) or ""
                         for at, cell in enumerate(row)], delimiter)

    def _replayed_plan(self, key: str) -> RowPlan:
        rel = key.rpartition(":")[0]
        try:
            return self._plan(rel)
        except OSError as exc:
            raise RecordError([f"{key}: cannot read the header of {rel} ({exc.strerror or type(exc).__name__})"]) from None
        except XlsxError as exc:
            raise RecordError([f"{key}: {exc}"]) from None
