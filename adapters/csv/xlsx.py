"""XLSX workbooks as rows for the csv source's column mapping (openpyxl, read-only, streaming).

Cells become the text a CSV export would hold (dates and times as ISO 8601, which the mapping
always accepts); each row is kept as one CSV-encoded line, so a quarantined row shows its
original values. openpyxl parses the workbook's XML through defusedxml (no entity expansion, no
external entities); files above a size bound are refused without being opened.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path

import defusedxml  # noqa: F401 - imported first so that openpyxl parses through it
import openpyxl

from isobridge.core.errors import IsobridgeError

MAX_BYTES = 200 * 1024 * 1024
"""Largest workbook accepted (compressed size)."""
MAX_UNPACKED = 2 * 1024 * 1024 * 1024
"""Largest total size of the workbook's parts once unpacked (a zip bomb is refused unopened)."""


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


def sheet_rows(path: Path, sheet: str | None = None, max_bytes: int = MAX_BYTES) -> Iterator[list[str]]:
    """Rows of a sheet (the first one by default) as lists of cell texts, header row first."""
    size = path.stat().st_size
    if size > max_bytes:
        raise XlsxError(f"workbook is {size} bytes, above the limit of {max_bytes}")
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(entry.file_size for entry in archive.infolist())
        if unpacked > MAX_UNPACKED:
            raise XlsxError(f"workbook unpacks to {unpacked} bytes, above the limit of {MAX_UNPACKED}")
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except XlsxError:
        raise
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise XlsxError(f"not a readable XLSX workbook ({type(exc).__name__})") from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise XlsxError(f"no sheet {sheet!r}; the workbook has {book.sheetnames}")
        rows = (book[sheet] if sheet else book.worksheets[0]).iter_rows(values_only=True)
        for row in rows:
            yield [cell_text(value) for value in row]
    finally:
        book.close()


def row_line(cells: list[str], delimiter: str) -> str:
    """One row as a CSV line (no line break) with the mapping's delimiter."""
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="").writerow(cells)
    return out.getvalue()
