"""The csv source: encodings, column mapping, incremental reading, quarantine."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import pull_and_map as run

from isobridge.adapters.csv import CsvOptions, CsvSource
from isobridge.core.adapters import AdapterContext
from isobridge.core.caselog import RecordError
from isobridge.core.privacy import Pseudonymizer

FIXTURES = Path(__file__).parent / "fixtures" / "docsrc" / "csv"
KEY = "khoa-thu-nghiem"
P = Pseudonymizer(KEY).pseudonym
DOSSIER_A = "000.00.31.H37-250701-0001"


def make_source(folder: Path, **options) -> CsvSource:
    return CsvSource(CsvOptions(adapter="csv", folder=folder, settle_seconds=0, **options),
                     AdapterContext("xuat-excel", Pseudonymizer(KEY)))




@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "csv"
    shutil.copytree(FIXTURES, target)
    return target


def events_of(fragments: dict, dossier: str) -> list[dict]:
    return [e for frags in fragments.values() for f in frags if f["dossier"] == dossier for e in f["events"]]


def test_utf8_bom_row_becomes_fragment_with_pseudonyms(folder):
    fragments, _, _ = run(make_source(folder))
    first = next(f[0] for k, f in fragments.items() if k.startswith("mot-cua") and f[0]["events"][0]["kind"] == "received")
    assert first == {
        "dossier": DOSSIER_A, "procedure": "1.001612", "agency": "UBND xã Hòa Phú", "channel": "online",
        "received_at": "2025-07-01T08:15:12+07:00", "due_at": "2025-07-04T08:15:12+07:00", "status": 2,
        "applicant": P("048085001234"),
        "events": [{"kind": "received", "at": "2025-07-01T08:15:12+07:00", "step": "TN",
                    "unit": "Bộ phận Một cửa", "actor": P("Trần Thị Bích")}]}


def test_cp1258_file_is_decoded_and_normalised(folder):
    fragments, errors, _ = run(make_source(folder))
    legacy = [f[0] for k, f in fragments.items() if k.startswith("he-thong-cu")]
    assert len(legacy) == 4 and not [k for k in errors if k.startswith("he-thong-cu")]
    assert {f["agency"] for f in legacy} == {"UBND xã Hòa Phú"}  # NFC, equal to the UTF-8 file's text
    kinds = {e["kind"] for f in legacy for e in f["events"]}
    assert kinds == {"returned", "handover", "supplement_received"}


def test_events_of_one_dossier_across_files_out_of_order_and_duplicated(folder):
    fragments, _, _ = run(make_source(folder))
    events = events_of(fragments, DOSSIER_A)
    keys = [(e["at"], e["kind"], e.get("step"), e.get("unit")) for e in events]
    assert len(keys) == 7 and len(set(keys)) == 6  # the 09:30 hand-over is in both files
    assert sorted(set(keys))[0] == ("2025-07-01T08:15:12+07:00", "received", "TN", "Bộ phận Một cửa")
    supplement = next(e for e in events if e["kind"] == "supplement_requested")
    assert supplement["reason"] == "Thiếu bản sao CCCD, giấy phép"  # quoted field with the delimiter


def test_bad_rows_are_quarantined_with_reasons(folder):
    _, errors, _ = run(make_source(folder))
    flat = {k: " | ".join(v) for k, v in errors.items()}
    assert any("'31/06/2025 10:00' matches none of" in v for v in flat.values())
    assert any("'Chuyển nhầm' is not in the mapping's values.kind" in v for v in flat.values())
    assert any("a quoted field that is not closed before the end of the file" in v for v in flat.values())
    assert len(errors) == 3
    assert "048190009876" not in json.dumps(errors)


def test_quarantined_rows_hold_identifiers_only_as_pseudonyms(folder):
    source = make_source(folder)
    checked = 0
    for page in source.pages(None):
        for record in page.records:
            try:
                source.map(record)
            except RecordError:
                kept = source.quarantine_payload(record)
                if "31/06/2025" in record.payload:
                    assert "048190009876" not in kept and P("048190009876") in kept
                    assert "Trần Thị Bích" not in kept and "31/06/2025 10:00" in kept
                    checked += 1
    assert checked == 1


def test_a_pseudonym_is_not_pseudonymised_again():
    once = P("048190009876")
    assert Pseudonymizer(KEY).pseudonym(once) == once


def test_personal_data_never_in_fragments(folder):
    fragments, _, _ = run(make_source(folder))
    text = json.dumps(fragments, ensure_ascii=False)
    for personal in ("048085001234", "048190009876", "Trần Thị Bích", "Hồ Văn Thành"):
        assert personal not in text


def test_second_run_reads_nothing_and_appended_rows_only(folder):
    source = make_source(folder)
    first, errors, cursor = run(source)
    assert len(first) + len(errors) == 11
    assert run(source, cursor)[:2] == ({}, {})
    with open(folder / "mot-cua-2025-07.csv", "ab") as handle:
        handle.write(("H37.31-250702-0002,2.000908,UBND xã Hòa Phú,Trực tiếp,02/07/2025 09:10,"
                      "02/07/2025 16:00,Đã trả kết quả,048190009876,02/07/2025 15:30,Trả kết quả,,,,"
                      "Trần Thị Bích,\r\n").encode("utf-8"))
    new, errors, _ = run(source, cursor)
    assert errors == {} and len(new) == 1
    (fragment,) = next(iter(new.values()))
    assert fragment["status"] == 10 and fragment["events"][0]["kind"] == "returned"


def test_half_written_last_line_waits_until_the_file_settles(folder):
    source = CsvSource(CsvOptions(adapter="csv", folder=folder, settle_seconds=3600),
                       AdapterContext("x", Pseudonymizer(KEY)))
    _, _, cursor = run(source)
    with open(folder / "mot-cua-2025-07.csv", "ab") as handle:
        handle.write("H37.31-250702-0002,2.000908,UBND xã".encode("utf-8"))
    assert run(source, cursor)[:2] == ({}, {})


def test_one_row_per_dossier_layout(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bao-cao.csv").write_text(
        "Số hồ sơ;Thủ tục;Nhận lúc;Hạn;Xong lúc;Trả lúc;Tình trạng;Họ tên người nộp\n"
        "H37.31-250705-0011;1.010736;2025-07-05 08:00:00;2025-07-10 17:00:00;2025-07-09 10:00:00;"
        "2025-07-09 15:00:00;10;Võ Thị Mai\n", "utf-8")
    (tmp_path / "m.toml").write_text('''
delimiter = ";"
[columns]
dossier = "Số hồ sơ"
procedure = "Thủ tục"
received_at = "Nhận lúc"
due_at = "Hạn"
status = "Tình trạng"
applicant_name = "Họ tên người nộp"
[[date_events]]
column = "Nhận lúc"
kind = "received"
[[date_events]]
column = "Xong lúc"
kind = "resolved"
[[date_events]]
column = "Trả lúc"
kind = "returned"
''', "utf-8")
    fragments, errors, _ = run(make_source(tmp_path / "in", mapping=tmp_path / "m.toml"))
    (fragment,) = next(iter(fragments.values()))
    assert errors == {}
    assert fragment["applicant_name"] == P("Võ Thị Mai") and fragment["status"] == 10
    assert [e["kind"] for e in fragment["events"]] == ["received", "resolved", "returned"]
    assert fragment["events"][0]["at"] == "2025-07-05T08:00:00+07:00"


def test_missing_column_is_named(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x.csv").write_text("Mã hồ sơ,Khác\nA-250701-0001,1\n", "utf-8")
    _, errors, _ = run(make_source(tmp_path / "in"))
    (reasons,) = errors.values()
    assert "are not in the file's header" in reasons[0] and "Mã TTHC" in reasons[0]


def test_registered_as_plugin():
    from isobridge.core.plugins import load_plugins
    assert load_plugins().source("csv") is CsvSource


def _multiline_export(folder: Path) -> Path:
    """An export whose 'Lý do' cells hold line breaks (Alt+Enter in Excel), one of them an empty
    line, CRLF line ends, and blank lines between rows."""
    header = (FIXTURES / "mot-cua-2025-07.csv").read_bytes().split(b"\n", 1)[0].rstrip(b"\r")
    rows = []
    for n in range(1, 7):
        reason = f'"Thiếu giấy tờ:\r\n\r\n- bản sao CCCD số {n}\r\n- ""giấy phép"", bản chính"' if n % 2 else ""
        rows.append(f"000.00.31.H37-250701-000{n},1.001612,UBND xã Hòa Phú,Trực tuyến,01/07/2025 08:15:12,"
                    f"04/07/2025 08:15:12,Chờ bổ sung,04808500123{n},01/07/2025 14:0{n}:00,Yêu cầu bổ sung,,"
                    f"Phòng Kinh tế,,Hồ Văn Thành,{reason}")
    rows[2:2] = ["", "  "]  # blank lines between rows are no rows
    target = folder / "nhieu-dong"
    target.mkdir()
    (target / "xuat.csv").write_bytes(header + b"\r\n" + "\r\n".join(rows).encode("utf-8") + b"\r\n")
    return target


def test_quoted_fields_with_line_breaks_make_one_row(tmp_path):
    fragments, errors, _ = run(make_source(_multiline_export(tmp_path)))
    assert not errors and len(fragments) == 6
    reasons = [f[0]["events"][0].get("reason") for f in fragments.values()]
    assert reasons[0] == 'Thiếu giấy tờ:\n\n- bản sao CCCD số 1\n- "giấy phép", bản chính' and reasons[1] is None


@pytest.mark.parametrize("page_lines", [1, 2, 3, 4])
def test_a_row_across_a_page_boundary_is_read_once_whole_and_resumes_exactly(tmp_path, page_lines):
    folder = _multiline_export(tmp_path)
    whole, _, _ = run(make_source(folder))
    source = make_source(folder, page_lines=page_lines)
    seen: dict = {}
    cursor = None
    while True:  # every run killed right after the first page that moves the checkpoint
        start = cursor
        for page in source.pages(cursor):
            for record in page.records:
                assert record.key not in seen, f"{record.key} read twice"
                seen[record.key] = source.map(record)
            cursor = page.cursor
            if cursor != start:
                break
        if cursor == start:
            break
    assert seen == whole


def test_an_open_quoted_field_at_the_end_of_a_fresh_file_waits_for_the_rest(tmp_path):
    folder = _multiline_export(tmp_path)
    path = folder / "xuat.csv"
    text = path.read_bytes()
    cut = text.index("- bản sao CCCD số 5".encode())
    path.write_bytes(text[:cut])  # the export is still being written, inside row 5's reason
    source = CsvSource(CsvOptions(adapter="csv", folder=folder, settle_seconds=60),
                       AdapterContext("xuat-excel", Pseudonymizer(KEY)))
    first, errors, cursor = run(source)
    assert len(first) == 4 and not errors  # rows 1–4; row 5 is neither read nor quarantined
    path.write_bytes(text)
    rest, errors, _ = run(source, cursor)
    assert len(rest) == 2 and not errors
    assert rest == {k: v for k, v in run(make_source(folder))[0].items() if k not in first}


def test_a_file_left_inside_a_quoted_field_keeps_its_cursor_while_later_files_are_read(tmp_path):
    folder = _multiline_export(tmp_path)
    text = (folder / "xuat.csv").read_bytes()
    (folder / "xuat.csv").rename(folder / "b.csv")
    (folder / "c.csv").write_bytes(text)  # a second, complete export after it
    cut = text.index("- bản sao CCCD số 5".encode())
    (folder / "b.csv").write_bytes(text[:cut])
    source = CsvSource(CsvOptions(adapter="csv", folder=folder, settle_seconds=60),
                       AdapterContext("xuat-excel", Pseudonymizer(KEY)))
    first, errors, cursor = run(source)
    assert not errors and sorted(k.split(":")[0] for k in first) == ["b.csv"] * 4 + ["c.csv"] * 6
    (folder / "b.csv").write_bytes(text)
    rest, errors, _ = run(source, cursor)
    whole = run(make_source(folder))[0]
    assert not errors and rest == {k: v for k, v in whole.items() if k.startswith("b.csv") and k not in first}
    assert len(rest) == 2
