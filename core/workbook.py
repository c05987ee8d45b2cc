"""XLSX workbooks as rows, for the csv source's column mapping and the national catalogue
(openpyxl, read-only, streaming).

Cells become the text a CSV export would hold (dates and times as ISO 8601, which the mapping
always accepts); each row is kept as one CSV-encoded line, so a quarantined row shows its
original values. openpyxl parses the workbook's XML through defusedxml (no entity expansion, no
external entities); files above a size bound are refused without being opened, and rows,
columns and the shared-strings table are bounded (the limits below). Blank rows are skipped.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path

import defusedxml  # noqa: F401 - imported first so that openpyxl parses through it
from openpyxl.reader.excel import SHARED_STRINGS, ExcelReader

from .errors import IsobridgeError

MAX_BYTES = 200 * 1024 * 1024
"""Largest workbook accepted (compressed size)."""
MAX_UNPACKED = 2 * 1024 * 1024 * 1024
"""Largest total size of the workbook's parts once unpacked (a zip bomb is refused unopened)."""
MAX_ROWS = 500_000
"""Rows of a sheet read (by row number, blank rows included); later ones are refused once."""
MAX_COLUMNS = 512
"""Columns of a row read; a row with a value further right is quarantined."""
MAX_SHARED_STRINGS = 1_000_000
"""Entries of the shared-strings table (the text of the workbook's cells) accepted."""
MAX_SHARED_BYTES = 32 * 1024 * 1024
"""Unpacked size of the shared-strings table accepted (checked before it is read: a table that
unpacks to hundreds of MB would take several times that in memory)."""


class XlsxError(IsobridgeError, ValueError):
    """A workbook that cannot be read; the message says why."""


def cell_text(value: object) -> str:
    """The text of a cell as a CSV export would write it."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).replace("\r\n", "\n").strip()  # a line break in a cell stays one, as in a CSV export


class _Refused(Exception):
    """A limit refused by the reader (not a ValueError, which openpyxl's reader rewords)."""


class _BoundedReader(ExcelReader):
    """openpyxl's workbook reader with the shared-strings table bounded in bytes and entries."""

    def read_strings(self) -> None:
        """Read the shared strings, refusing a table above the limits."""
        part = self.package.find(SHARED_STRINGS)
        if part is not None:
            size = self.archive.getinfo(part.PartName[1:]).file_size  # zipfile reads no more than this
            if size > MAX_SHARED_BYTES:
                raise _Refused(f"the shared-strings table unpacks to {size} bytes, above the limit of"
                                f" {MAX_SHARED_BYTES}")
        super().read_strings()
        if len(self.shared_strings) > MAX_SHARED_STRINGS:
            raise _Refused(f"the shared-strings table has {len(self.shared_strings)} entries, above the"
                            f" limit of {MAX_SHARED_STRINGS}")


def open_workbook(path: Path, max_bytes: int = MAX_BYTES):
    """The workbook, read-only, after the size checks; XlsxError says why it cannot be read."""
    size = path.stat().st_size
    if size > max_bytes:
        raise XlsxError(f"workbook is {size} bytes, above the limit of {max_bytes}")
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(entry.file_size for entry in archive.infolist())
        if unpacked > MAX_UNPACKED:
            raise XlsxError(f"workbook unpacks to {unpacked} bytes, above the limit of {MAX_UNPACKED}")
        reader = _BoundedReader(path, read_only=True, data_only=True)
        reader.read()
        return reader.wb
    except XlsxError:
        raise
    except _Refused as exc:
        raise XlsxError(str(exc)) from None
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, SyntaxError) as exc:
        raise XlsxError(f"not a readable XLSX workbook ({type(exc).__name__})") from None


def sheet_rows(path: Path, sheet: str | None = None, max_bytes: int = MAX_BYTES) -> Iterator[tuple[int, list[str] | XlsxError]]:
    """The non-blank rows of a sheet (the first one by default), header row first, as (row number,
    cell texts). A row with a value right of column :data:`MAX_COLUMNS` comes as an XlsxError in
    place of its cells; rows past :data:`MAX_ROWS` are not read (XlsxError raised there). The
    sheet's declared dimension is ignored: rows are as wide as the header row."""
    book = open_workbook(path, max_bytes)
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise XlsxError(f"no sheet {sheet!r}; the workbook has {book.sheetnames}")
        worksheet = book[sheet] if sheet else book.worksheets[0]
        worksheet.reset_dimensions()  # a hostile `A1:XFD1048576` would pad every row to 16 384 cells
        width = None  # the header's, once read: shorter rows are padded, trailing blanks cut
        for number, row in enumerate(worksheet.iter_rows(values_only=True), start=1):
            if number > MAX_ROWS:
                raise XlsxError(f"rows from {number} on are not read: above the limit of {MAX_ROWS} rows")
            if not row:
                continue
            cells = [cell_text(value) for value in row[:MAX_COLUMNS]]
            if len(row) > MAX_COLUMNS and any(cell_text(value) for value in row[MAX_COLUMNS:]):
                yield number, XlsxError(f"row {number} has values right of column {MAX_COLUMNS},"
                                        f" above the limit of {MAX_COLUMNS} columns")
            elif any(cells):
                width = len(cells) if width is None else width
                yield number, _fitted(cells, width)
    except XlsxError:
        raise
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, SyntaxError) as exc:
        raise XlsxError(f"not a readable XLSX sheet ({type(exc).__name__})") from None
    finally:
        book.close()


def _fitted(cells: list[str], width: int) -> list[str]:
    """`cells` as wide as the header: padded with blanks, or cut where only blanks stand."""
    if len(cells) < width:
        return cells + [""] * (width - len(cells))
    if len(cells) > width and not any(cells[width:]):
        return cells[:width]
    return cells
