"""Rows of a catalogue export: a CSV file (UTF-8 with or without BOM, or Windows-1258) or an XLSX sheet.

The export of the national database of administrative procedures is small (thousands of rows), so
the whole file is checked against modest bounds and read once. Each row comes as (row number in
the file, {header: cell text}), the text in Unicode NFC (Windows-1258 writes tones as combining
marks); blank rows are skipped. Workbooks are opened by the core's bounded reader
(`core/workbook.py`, which the csv source uses too).
"""

from __future__ import annotations

import csv
import io
import unicodedata
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

from ..errors import ConfigurationError
from ..workbook import XlsxError, open_workbook

MAX_BYTES = 50 * 1024 * 1024
"""Largest catalogue file accepted (an export of every procedure of a province is a few MB)."""
MAX_UNPACKED = 500 * 1024 * 1024
"""Largest total size of an XLSX workbook's parts once unpacked (a zip bomb is refused unopened)."""
MAX_ROWS = 200_000
"""Rows read from a catalogue; a longer file is refused."""


class CatalogueFileError(ConfigurationError):
    """A catalogue file that cannot be read at all; the message names it and says why."""


Row = tuple[int, dict[str, str]]


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return unicodedata.normalize("NFC", str(value)).strip()


def _decoded(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return raw.decode("cp1258")
        except UnicodeDecodeError as exc:
            raise CatalogueFileError(f"{path}: neither UTF-8 nor Windows-1258 text (byte {exc.start})") from None


def _records(path: Path, lines: Iterator[tuple[int, list[str]]], required: list[str]) -> Iterator[Row]:
    header: list[str] | None = None
    for number, cells in lines:
        if number > MAX_ROWS:
            raise CatalogueFileError(f"{path}: more than {MAX_ROWS} rows")
        cells = [_text(cell) for cell in cells]
        if not any(cells):
            continue
        if header is None:
            header = cells
            missing = [name for name in required if name not in header]
            if missing:
                raise CatalogueFileError(f"{path}: no column {', '.join(map(repr, missing))} (named by the mapping);"
                                         f" the header row {number} has {', '.join(map(repr, header))}")
            continue
        if len(cells) > len(header) and any(cells[len(header):]):
            yield number, {"": f"{len(cells)} cells, the header has {len(header)}"}
            continue
        yield number, dict(zip(header, cells + [""] * (len(header) - len(cells))))
    if header is None:
        raise CatalogueFileError(f"{path}: empty (no header row)")


def _csv_lines(path: Path) -> Iterator[tuple[int, list[str]]]:
    text = _decoded(path, path.read_bytes())
    delimiter = ";" if text.split("\n", 1)[0].count(";") > text.split("\n", 1)[0].count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for cells in reader:
            yield reader.line_num, cells
    except csv.Error as exc:
        raise CatalogueFileError(f"{path}: line {reader.line_num}: {exc}") from None


def _xlsx_lines(path: Path, sheet: str | None) -> Iterator[tuple[int, list[str]]]:
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(entry.file_size for entry in archive.infolist())
        if unpacked > MAX_UNPACKED:
            raise CatalogueFileError(f"{path}: unpacks to {unpacked} bytes, above the limit of {MAX_UNPACKED}")
        book = open_workbook(path, MAX_BYTES)  # bounded: its shared-strings table too
    except CatalogueFileError:
        raise
    except XlsxError as exc:
        raise CatalogueFileError(f"{path}: {exc}") from None
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, SyntaxError) as exc:
        raise CatalogueFileError(f"{path}: not a readable XLSX workbook ({type(exc).__name__})") from None
    try:
        if sheet and sheet not in book.sheetnames:
            raise CatalogueFileError(f"{path}: no sheet {sheet!r}; the workbook has {book.sheetnames}")
        worksheet = book[sheet] if sheet else book.worksheets[0]
        worksheet.reset_dimensions()
        for number, cells in enumerate(worksheet.iter_rows(values_only=True), start=1):
            yield number, list(cells)
    finally:
        book.close()


def catalogue_rows(path: str | Path, required: list[str], sheet: str | None = None) -> Iterator[Row]:
    """The data rows of a CSV or XLSX catalogue (by the file's extension), after its header row,
    which must hold every `required` column (else CatalogueFileError).

    A row wider than the header comes with the single key "" holding the reason.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CatalogueFileError(f"{path}: {exc.strerror}") from None
    if size > MAX_BYTES:
        raise CatalogueFileError(f"{path}: {size} bytes, above the limit of {MAX_BYTES}")
    if path.suffix.lower() == ".xlsx":
        return _records(path, _xlsx_lines(path, sheet), required)
    if path.suffix.lower() in (".csv", ".txt"):
        return _records(path, _csv_lines(path), required)
    raise CatalogueFileError(f"{path}: expected a .csv or .xlsx file")
