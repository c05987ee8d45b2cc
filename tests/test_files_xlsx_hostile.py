"""Hostile XLSX workbooks (issue 12): a huge declared dimension, a shared-strings bomb, wide rows.

The workbooks are written part by part with zipfile, as small as an attacker would send them.
"""

from __future__ import annotations

import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from conftest import pull_and_map as run
from isobridge.adapters.csv import CsvOptions, CsvSource
from isobridge.core import workbook as xlsx
from isobridge.core.adapters import AdapterContext
from isobridge.core.privacy import Pseudonymizer

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
HEADER = ["Mã hồ sơ", "Mã TTHC", "Cơ quan tiếp nhận", "Kênh nộp", "Ngày tiếp nhận", "Ngày hẹn trả",
          "Trạng thái", "Số CCCD", "Thời điểm", "Thao tác", "Bước", "Bên giao", "Bên nhận", "Người xử lý", "Lý do"]
"""The header of the bundled mapping's example export (tests/fixtures/docsrc/csv)."""
ROW = ["000.00.31.H37-250701-0001", "1.001612", "UBND xã Hòa Phú", "Trực tuyến", "01/07/2025 08:15:12",
       "04/07/2025 08:15:12", "Đã tiếp nhận", "048085001234", "01/07/2025 08:15:12", "Tiếp nhận", "TN", "",
       "Bộ phận Một cửa", "Trần Thị Bích", ""]


def column(index: int) -> str:
    name = ""
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def inline_row(number: int, values: list[str]) -> str:
    cells = "".join(f'<c r="{column(at)}{number}" t="inlineStr"><is><t>{value}</t></is></c>'
                    for at, value in enumerate(values, start=1) if value)
    return f'<row r="{number}">{cells}</row>'


def write_xlsx(path: Path, dimension: str, rows: str, shared: bytes | None = None) -> Path:
    """A minimal workbook: one sheet with `rows` (sheetData XML), optionally a shared-strings part."""
    types = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
             '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
             '<Default Extension="xml" ContentType="application/xml"/>'
             '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
             '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
             + ('<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
                if shared is not None else '') + '</Types>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", types)
        archive.writestr("_rels/.rels", f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                         f'<Relationship Id="rId1" Type="{RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
        archive.writestr("xl/workbook.xml", f'<workbook xmlns="{MAIN}" xmlns:r="{RELS}"><sheets>'
                         '<sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>')
        archive.writestr("xl/_rels/workbook.xml.rels", '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                         f'<Relationship Id="rId1" Type="{RELS}/worksheet" Target="worksheets/sheet1.xml"/>'
                         + (f'<Relationship Id="rId2" Type="{RELS}/sharedStrings" Target="sharedStrings.xml"/>'
                            if shared is not None else '') + '</Relationships>')
        archive.writestr("xl/worksheets/sheet1.xml", f'<worksheet xmlns="{MAIN}"><dimension ref="{dimension}"/>'
                         f'<sheetData>{rows}</sheetData></worksheet>')
        if shared is not None:
            archive.writestr("xl/sharedStrings.xml", shared)
    return path


def source(folder: Path) -> CsvSource:
    return CsvSource(CsvOptions(adapter="csv", folder=folder, settle_seconds=0),
                     AdapterContext("xuat-excel", Pseudonymizer("k")))


@pytest.mark.parametrize("last_row", [3000, 1_048_576])
def test_a_huge_declared_dimension_yields_only_the_rows_that_hold_values(tmp_path: Path, last_row: int) -> None:
    """2 KB declaring A1:XFD1048576 with a cell far away: no million blank 16 384-cell rows.
    (The 3000-row variant shows the fault quickly on the old code, the real one would hang it.)"""
    rows = inline_row(1, HEADER) + inline_row(2, ROW) + f'<row r="{last_row}"><c r="A{last_row}" t="inlineStr"><is><t> </t></is></c></row>'
    path = write_xlsx(tmp_path / "so.xlsx", f"A1:XFD{last_row}", rows)
    assert path.stat().st_size < 3000
    started = time.monotonic()
    fragments, errors, _ = run(source(tmp_path))
    assert time.monotonic() - started < 20
    assert list(fragments) == ["so.xlsx:2"]
    assert len(errors) <= 1
    if last_row > xlsx.MAX_ROWS:
        assert errors == {"so.xlsx:0": [f"so.xlsx:0: rows from {xlsx.MAX_ROWS + 1} on are not read:"
                                        f" above the limit of {xlsx.MAX_ROWS} rows"]}
    else:
        assert errors == {}


def test_a_row_with_values_beyond_the_column_limit_is_quarantined(tmp_path: Path) -> None:
    far = f'<c r="XFD3" t="inlineStr"><is><t>x</t></is></c>'
    rows = inline_row(1, HEADER) + inline_row(2, ROW) + inline_row(3, ROW).replace("</row>", far + "</row>")
    write_xlsx(tmp_path / "so.xlsx", "A1:XFD3", rows)
    fragments, errors, _ = run(source(tmp_path))
    assert list(fragments) == ["so.xlsx:2"]
    assert errors == {"so.xlsx:3": [f"so.xlsx:3: row 3 has values right of column {xlsx.MAX_COLUMNS},"
                                    f" above the limit of {xlsx.MAX_COLUMNS} columns"]}


def shared_strings(count: int, text: str = "ab") -> bytes:
    return (f'<sst xmlns="{MAIN}" count="{count}" uniqueCount="{count}">'.encode()
            + f"<si><t>{text}</t></si>".encode() * count + b"</sst>")


def test_a_shared_strings_bomb_is_refused_without_being_unpacked(tmp_path: Path) -> None:
    """A workbook of a few hundred KB whose shared strings unpack to 100 MB."""
    table = shared_strings(100 * 1024 * 1024 // 18)
    path = write_xlsx(tmp_path / "bom.xlsx", "A1:A2", inline_row(1, HEADER) + inline_row(2, ROW), table)
    del table
    assert path.stat().st_size < 400_000
    tracemalloc.start()
    try:
        fragments, errors, _ = run(source(tmp_path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert fragments == {}
    (reason,) = errors["bom.xlsx:0"]
    assert reason.startswith("bom.xlsx:0: the shared-strings table unpacks to 104857") and \
        reason.endswith(f"above the limit of {xlsx.MAX_SHARED_BYTES}")
    assert peak < 50 * 1024 * 1024


def test_a_shared_strings_table_over_the_entry_limit_is_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(xlsx, "MAX_SHARED_STRINGS", 1000)
    path = write_xlsx(tmp_path / "so.xlsx", "A1:A2", inline_row(1, HEADER) + inline_row(2, ROW), shared_strings(1001))
    fragments, errors, _ = run(source(tmp_path))
    assert fragments == {} and errors == {
        "so.xlsx:0": ["so.xlsx:0: the shared-strings table has 1001 entries, above the limit of 1000"]}
    path.unlink()
    write_xlsx(tmp_path / "ok.xlsx", "A1:A2", inline_row(1, HEADER) + inline_row(2, ROW), shared_strings(1000))
    assert list(run(source(tmp_path))[0]) == ["ok.xlsx:2"]


def test_blank_rows_between_rows_are_skipped_and_rows_keep_their_numbers(tmp_path: Path) -> None:
    second = ["000.00.31.H37-250701-0002", *ROW[1:]]
    rows = inline_row(1, HEADER) + inline_row(2, ROW) + '<row r="3"/>' + inline_row(5, second)
    write_xlsx(tmp_path / "so.xlsx", "A1:O5", rows)
    fragments, errors, _ = run(source(tmp_path))
    assert errors == {} and list(fragments) == ["so.xlsx:2", "so.xlsx:5"]
