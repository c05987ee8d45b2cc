"""`isobridge coverage`: hand-computed coverage, each drift rule, and the catalogue mapping's errors."""

from __future__ import annotations

import csv
import json
import unicodedata
from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook

from isobridge.core import samples
from isobridge.core.cli import main
from isobridge.core.cli.demo import prepare
from isobridge.core.models import Procedure
from isobridge.core.procedures import ProcedureBook
from isobridge.core.report.aggregate import Period
from isobridge.core.report.catalogue import SAMPLE_CATALOGUE, Catalogue, CatalogueEntry, read_catalogue
from isobridge.core.report.catalogue_read import CatalogueFileError
from isobridge.core.report.coverage import count_coverage
from isobridge.core.report.drift import add_months, cutoffs, drift

HEADER = "Mã thủ tục,Tên thủ tục,Thời hạn giải quyết,Đơn vị thời hạn,Cấp thực hiện,Quyết định công bố,Ngày hiệu lực," \
         "Tình trạng,Thay thế bởi\n"


def procedure(code: str, since: str | None = None, limit: tuple[float, str] = (3, "working_days"),
              version: str = "1") -> Procedure:
    return Procedure.model_validate({
        "code": code, "name": f"Thủ tục {code}", "version": version, "agency": "UBND xã A",
        "effective_from": since, "limit": {"value": limit[0], "unit": limit[1]},
        "steps": [{"code": "TN", "name": "Tiếp nhận", "limit": {"value": 1, "unit": "working_hours"}}]})


def record(dossier: str, code: str | None, received: str | None, agency: str = "UBND xã A"):
    return dossier, "evaluated", {"procedure": code, "received_at": received, "agency": agency}, None


def entry(code: str, limit: float | None = 3, unit: str | None = "working_days", effective: str = "2025-07-01",
          status: str = "active", **more) -> CatalogueEntry:
    return CatalogueEntry(code, f"Thủ tục {code}", limit, unit, date.fromisoformat(effective), status, **more)


# -- coverage ----------------------------------------------------------------------------------

BOOK = ProcedureBook.from_procedures([procedure("1.1", "2025-03-01")])
RECORDS = [
    record("HS1", "1.1", "2025-02-15T09:00:00+07:00"),   # before the first version: not covered
    record("HS2", "1.1", "2025-02-28T20:00:00+00:00"),   # 1 March 03:00 in Viet Nam: covered
    record("HS3", "1.1", "2025-04-10T09:00:00+07:00"),
    record("HS4", "9.9", "2025-04-11T09:00:00+07:00"),   # no ISO procedure at all
    record("HS5", "1.1", "2025-05-02T09:00:00+07:00", agency="Sở B"),
    record("HS6", None, "2025-05-02T09:00:00+07:00"),    # header not arrived yet
    record("HS7", "1.1", "2 May 2025"),                  # not an ISO instant
    record("HS8", "1.1", "2026-01-05T09:00:00+07:00"),   # outside the period below
]


def test_coverage_per_agency_and_procedure_by_hand() -> None:
    coverage = count_coverage(RECORDS, BOOK, Period("2025-01-01", "2025-12-31"))
    first, second = coverage.agencies()
    assert (first.agency, second.agency) == ("Sở B", "UBND xã A")
    a, b = second.procedures
    assert (a.procedure, a.dossiers, a.covered, a.uncovered, a.first, a.last, a.state) == \
        ("1.1", 3, 2, 1, "2025-02-15", "2025-04-10", "partly")
    assert (b.procedure, b.dossiers, b.covered, b.first, b.last, b.state) == \
        ("9.9", 1, 0, "2025-04-11", "2025-04-11", "uncovered")
    assert second.rate == 0 and second.dossier_rate == pytest.approx(2 / 4)
    assert first.rate == 1 and first.dossier_rate == 1
    assert coverage.unusable == 2
    assert coverage.unusable_listed[0] == "HS6: no procedure code yet"
    assert coverage.unusable_listed[1].startswith("HS7: received_at:")


def test_coverage_of_one_agency_and_without_period() -> None:
    coverage = count_coverage(RECORDS, BOOK, agency="UBND xã A")
    (only,) = coverage.agencies()
    assert [(u.procedure, u.dossiers, u.covered) for u in only.procedures] == [("1.1", 4, 3), ("9.9", 1, 0)]


# -- drift: time limits ------------------------------------------------------------------------

@pytest.mark.parametrize("iso, legal, kind, detail", [
    ((4, "working_days"), (3, "working_days"), "limit", "vượt 8 giờ làm việc"),
    ((20, "working_hours"), (3, "working_days"), None, None),            # 20 h within 24 h
    ((25, "working_hours"), (3, "working_days"), "limit", "vượt 1 giờ làm việc"),
    ((12, "calendar_days"), (10, "calendar_days"), "limit", "vượt 2 ngày"),
    ((10, "calendar_days"), (10, "calendar_days"), None, None),
    ((10, "calendar_days"), (10, "working_days"), "not_comparable", "không so sánh được"),
    ((5, "working_days"), (10, "calendar_days"), "not_comparable", "không so sánh được"),
])
def test_limit_rule(iso, legal, kind, detail) -> None:
    book = ProcedureBook.from_procedures([procedure("1.1", "2025-07-15", iso)])
    catalogue = Catalogue(Path("c.csv"), {"1.1": entry("1.1", *legal)})
    found = [f for f in drift(book, catalogue, count_coverage([], book), date(2025, 8, 1)) if f.kind != "due"]
    if kind is None:
        assert found == []
    else:
        (finding,) = found
        assert finding.kind == kind and finding.detail.startswith(detail)


def test_limit_rule_uses_the_calendars_hours_per_day() -> None:
    book = ProcedureBook.from_procedures([procedure("1.1", "2025-07-15", (30, "working_hours"))])
    catalogue = Catalogue(Path("c.csv"), {"1.1": entry("1.1", 4, "working_days")})
    kinds = lambda hours: [f.kind for f in drift(book, catalogue, count_coverage([], book), date(2025, 8, 1), hours)]
    assert kinds(8) == [] and kinds(7) == ["limit"]   # 30 h against 32 h, then 28 h


# -- drift: abolished or replaced procedures still used ---------------------------------------

def test_abolished_procedure_still_received_after_the_date() -> None:
    catalogue = Catalogue(Path("c.csv"), {
        "1.1": entry("1.1", status="abolished", effective="2025-06-01", document="QĐ 1/2025"),
        "2.2": entry("2.2", status="replaced", effective="2025-06-01", replaced_by="2.3"),
        "3.3": entry("3.3", status="abolished", effective="2025-06-01")})
    records = [record("HS1", "1.1", "2025-05-31T16:59:00+07:00"), record("HS2", "1.1", "2025-06-01T07:30:00+07:00"),
               record("HS3", "1.1", "2025-06-20T09:00:00+07:00"), record("HS4", "1.1", "2025-06-21T09:00:00+07:00", "Sở B"),
               record("HS5", "2.2", "2025-05-20T09:00:00+07:00"), record("HS6", "3.3", "2025-07-01T09:00:00+07:00")]
    book = ProcedureBook.from_procedures([procedure("1.1"), procedure("2.2")])
    coverage = count_coverage(records, book, cutoffs=cutoffs(catalogue))
    found = [f for f in drift(book, catalogue, coverage, date(2025, 8, 1)) if f.kind == "abolished"]
    assert [(f.procedure, f.agency, f.iso, f.detail) for f in found] == [
        ("1.1", "Sở B", "1 hồ sơ tiếp nhận từ ngày đó", "hồ sơ cuối tiếp nhận ngày 21/06/2025"),
        ("1.1", "UBND xã A", "2 hồ sơ tiếp nhận từ ngày đó", "hồ sơ cuối tiếp nhận ngày 20/06/2025"),
        ("3.3", "UBND xã A", "1 hồ sơ tiếp nhận từ ngày đó", "hồ sơ cuối tiếp nhận ngày 01/07/2025")]
    assert found[0].catalogue == "đã bãi bỏ từ 01/06/2025 (QĐ 1/2025)"


# -- drift: ISO versions not updated within three months -------------------------------------

def test_three_months_after_the_effective_date() -> None:
    assert add_months(date(2025, 7, 1), 3) == date(2025, 10, 1)
    assert add_months(date(2025, 11, 30), 3) == date(2026, 2, 28)
    assert add_months(date(2023, 11, 30), 3) == date(2024, 2, 29)


@pytest.mark.parametrize("versions, as_of, kind, detail", [
    ([None, "2025-10-01"], "2026-01-01", None, None),                           # on the deadline: in time
    ([None, "2025-07-01"], "2026-01-01", None, None),                           # the same day
    (["2025-01-01", "2025-10-02"], "2026-01-01", "updated_late", "chậm 1 ngày so với hạn 01/10/2025"),
    (["2025-01-01"], "2025-10-02", "not_updated", "quá hạn cập nhật 01/10/2025 (1 ngày)"),
    ([None], "2025-10-11", "not_updated", "quá hạn cập nhật 01/10/2025 (10 ngày)"),
    (["2025-06-30"], "2025-09-01", "due", "hạn cập nhật 01/10/2025"),
])
def test_update_rule(versions, as_of, kind, detail) -> None:
    book = ProcedureBook.from_procedures([procedure("1.1", since, version=str(n)) for n, since in enumerate(versions)])
    catalogue = Catalogue(Path("c.csv"), {"1.1": entry("1.1", None, None, document="QĐ 5/2025")})
    found = drift(book, catalogue, count_coverage([], book), date.fromisoformat(as_of))
    if kind is None:
        assert found == []
    else:
        (finding,) = found
        assert (finding.kind, finding.detail) == (kind, detail)
        assert finding.catalogue == "QĐ 5/2025, hiệu lực 01/07/2025"


def test_undated_version_says_so_and_unknown_codes_are_named() -> None:
    book = ProcedureBook.from_procedures([procedure("1.1"), procedure("4.4", "2025-01-01")])
    catalogue = Catalogue(Path("c.csv"), {"1.1": entry("1.1", None, None)})
    found = drift(book, catalogue, count_coverage([], book), date(2026, 1, 1))
    assert [(f.kind, f.procedure) for f in found] == [("not_updated", "1.1"), ("not_in_catalogue", "4.4")]
    assert found[0].version == "lần ban hành 1, không ghi ngày hiệu lực"


# -- the catalogue and its mapping -------------------------------------------------------------

def test_the_sample_catalogue_reads_without_errors() -> None:
    catalogue = read_catalogue(SAMPLE_CATALOGUE)
    assert catalogue.errors == []
    assert sorted(catalogue.entries) == ["1.001612", "1.010736", "2.000908", "2.001023"]
    sample = catalogue.entries["2.000908"]
    assert (sample.limit, sample.limit_unit, sample.level, sample.effective) == \
        (8, "working_hours", "Cấp xã", date(2025, 7, 1))


def test_bad_rows_are_listed_with_file_row_and_reason(tmp_path) -> None:
    path = tmp_path / "danh-muc.csv"
    path.write_text(HEADER + "\n".join([
        "1.1,Tốt,\"3,5\",NGÀY LÀM VIỆC,Cấp xã,QĐ 1,01/07/2025,  Đang áp dụng ,",
        "1.2,Thời hạn chữ,ba,Ngày làm việc,Cấp xã,QĐ 1,01/07/2025,Đang áp dụng,",
        "1.3,Đơn vị lạ,3,Tuần,Cấp xã,QĐ 1,01/07/2025,Đang áp dụng,",
        "1.4,Tình trạng lạ,3,Ngày,Cấp xã,QĐ 1,01/07/2025,Tạm dừng,",
        "1.5,Ngày sai,3,Ngày,Cấp xã,QĐ 1,31/02/2025,Đang áp dụng,",
        ",Không mã,3,Ngày,Cấp xã,QĐ 1,01/07/2025,Đang áp dụng,",
        "1.1,Trùng mã,3,Ngày,Cấp xã,QĐ 1,01/07/2025,Đang áp dụng,",
        "1.6,Thừa ô,3,Ngày,Cấp xã,QĐ 1,01/07/2025,Đang áp dụng,,thừa",
        "1.7,Không thời hạn,,,Cấp xã,QĐ 1,2025-07-01,Đã bãi bỏ,",
    ]) + "\n", encoding="utf-8")
    catalogue = read_catalogue(path)
    assert sorted(catalogue.entries) == ["1.1", "1.7"]
    assert catalogue.entries["1.1"].limit == 3.5 and catalogue.entries["1.7"].limit is None
    assert catalogue.entries["1.7"].status == "abolished"
    expected = [(3, "legal time limit 'ba' is not a number"), (4, "time-limit unit 'Tuần' is not in the mapping"),
                (5, "status 'Tạm dừng' is not in the mapping"), (6, "'31/02/2025' is not a date"),
                (7, "Mã thủ tục: empty procedure code"), (8, "procedure 1.1 is already on row 2"),
                (9, "10 cells, the header has 9")]
    assert len(catalogue.errors) == len(expected)
    for line, (row, reason) in zip(catalogue.errors, expected):
        assert line.startswith(f"{path}: row {row}: ") and reason in line, line


def test_a_missing_column_names_it(tmp_path) -> None:
    path = tmp_path / "danh-muc.csv"
    path.write_text(HEADER.replace("Tình trạng", "Trạng thái"), encoding="utf-8")
    with pytest.raises(CatalogueFileError, match="no column 'Tình trạng'"):
        read_catalogue(path)


TONES = "\u0300\u0301\u0303\u0309\u0323"


def windows_1258(text: str) -> bytes:
    """Text as Windows-1258 writes it: base letters precomposed, tones as combining marks."""
    out = []
    for char in text:
        decomposed = unicodedata.normalize("NFD", char)
        base = unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in TONES))
        out.append(base + "".join(c for c in decomposed if c in TONES))
    return "".join(out).encode("cp1258")


def test_words_match_in_any_composition_and_windows_1258(tmp_path) -> None:
    path = tmp_path / "danh-muc.csv"
    text = HEADER + "1.1,Thủ tục,3,Ngày làm việc,Cấp xã,QĐ 1,01/07/2025,Đang áp dụng,\n"
    path.write_bytes(windows_1258(text))
    catalogue = read_catalogue(path)
    assert catalogue.errors == [] and catalogue.entries["1.1"].limit_unit == "working_days"


def test_xlsx_catalogue(tmp_path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER.strip().split(","))
    sheet.append(["1.1", "Thủ tục", 3, "Ngày làm việc", "Cấp xã", "QĐ 1", date(2025, 7, 1), "Đang áp dụng", None])
    sheet.append(["1.2", "Thủ tục", "x", "Ngày làm việc", "Cấp xã", "QĐ 1", "01/07/2025", "Đang áp dụng", None])
    book.save(tmp_path / "danh-muc.xlsx")
    catalogue = read_catalogue(tmp_path / "danh-muc.xlsx")
    assert catalogue.entries["1.1"].effective == date(2025, 7, 1)
    assert catalogue.errors == [f"{tmp_path / 'danh-muc.xlsx'}: row 3: legal time limit 'x' is not a number"]


# -- the command -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("demo") / "out"
    assert main(["demo", "--out", str(folder)]) == 0
    return folder


def test_demo_writes_the_coverage_report(demo) -> None:
    page = (demo / "coverage.html").read_text(encoding="utf-8")
    assert "Tỷ lệ bao phủ theo cơ quan" in page and "UBND xã Hòa Vang" in page
    rows = list(csv.DictReader(open(demo / "coverage.thu-tuc.csv", encoding="utf-8-sig")))
    assert {(r["Cơ quan"], r["Mã thủ tục"]) for r in rows} >= {("UBND xã Hòa Vang", "1.001612"),
                                                              ("Sở Tư pháp thành phố Đà Nẵng", "2.001023")}
    assert sum(int(r["Số hồ sơ"]) for r in rows) == 400


def test_command_lists_bad_catalogue_rows_and_neutralises_formulas(demo, tmp_path, capsys) -> None:
    catalogue = tmp_path / "danh-muc.csv"
    catalogue.write_text(HEADER + "1.001612,=HYPERLINK(\"x\"),3,Ngày làm việc,Cấp xã,QĐ 9,01/07/2025,Bãi bỏ,\n"
                         "2.000908,Chứng thực,8,Giờ,Cấp xã,QĐ 1,01/07/2025,Đang áp dụng,\n", encoding="utf-8")
    out = tmp_path / "cov.html"
    status = main(["coverage", "--config", str(demo / "isobridge.toml"), "--catalogue", str(catalogue),
                   "--from", "2025-07-01", "--to", "2026-06-30", "--out", str(out)])
    assert status == 3
    err = capsys.readouterr().err
    assert f"{catalogue}: row 3: time-limit unit 'Giờ' is not in the mapping" in err
    page = out.read_text(encoding="utf-8")
    assert "row 3: time-limit unit" in page and "Thủ tục đã bãi bỏ hoặc bị thay thế" in page
    rows = list(csv.DictReader(open(tmp_path / "cov.doi-chieu.csv", encoding="utf-8-sig")))
    abolished = next(r for r in rows if r["Mã thủ tục"] == "1.001612" and r["Cơ quan"])
    assert abolished["Tên thủ tục"].startswith("'=HYPERLINK")
    assert any(r["Loại"] == "Dòng danh mục không đọc được" for r in rows)


def test_command_refuses_a_reversed_period(demo, capsys) -> None:
    assert main(["coverage", "--config", str(demo / "isobridge.toml"), "--from", "2026-01-02", "--to", "2026-01-01"]) == 1
    assert "after --to" in capsys.readouterr().err


def test_a_synced_dossier_without_iso_procedure_counts_as_uncovered(tmp_path, capsys) -> None:
    """Through the real sync: a dossier no ISO procedure covers is stored `failed`, and counted."""
    config = prepare(tmp_path / "d")
    first = json.loads(samples.CASES.read_text(encoding="utf-8").splitlines()[0])
    other = first | {"dossier": "HS-KHONG-QUY-TRINH", "procedure": "9.999999"}
    (tmp_path / "d" / "inbox" / "cases.jsonl").write_text(
        "\n".join(json.dumps(line, ensure_ascii=False) for line in (first, other)) + "\n", encoding="utf-8")
    main(["sync", "--config", str(config)])
    capsys.readouterr()
    assert main(["coverage", "--config", str(config), "--out", str(tmp_path / "cov.html")]) == 0
    rows = {r["Mã thủ tục"]: r for r in csv.DictReader(open(tmp_path / "cov.thu-tuc.csv", encoding="utf-8-sig"))}
    assert (rows["9.999999"]["Số hồ sơ"], rows["9.999999"]["Tình trạng"]) == ("1", "Chưa có quy trình ISO")
    assert rows[first["procedure"]]["Tình trạng"] == "Có quy trình ISO"
    assert "50,0 %" in (tmp_path / "cov.html").read_text(encoding="utf-8")


def test_drift_of_one_agency_only() -> None:
    book = ProcedureBook.from_procedures([procedure("1.1", "2025-07-15", (5, "working_days"))])
    catalogue = Catalogue(Path("c.csv"), {"1.1": entry("1.1", level="Cấp xã")})
    found = lambda agency: drift(book, catalogue, count_coverage([], book), date(2025, 8, 1), agency=agency)
    (finding,) = found("UBND xã A")
    assert (finding.kind, finding.agency, finding.catalogue) == ("limit", "UBND xã A", "3 ngày làm việc (Cấp xã)")
    assert found("Sở B") == []


def test_files_that_cannot_be_catalogues(tmp_path) -> None:
    (tmp_path / "a.xlsx").write_text("not a workbook", encoding="utf-8")
    with pytest.raises(CatalogueFileError, match="a.xlsx: not a readable XLSX workbook"):
        read_catalogue(tmp_path / "a.xlsx")
    (tmp_path / "a.pdf").write_bytes(b"%PDF")
    with pytest.raises(CatalogueFileError, match="expected a .csv or .xlsx file"):
        read_catalogue(tmp_path / "a.pdf")
    (tmp_path / "b.csv").write_bytes(b"\xff\xfe" + "Mã".encode("utf-16-le"))
    with pytest.raises(CatalogueFileError, match="no column"):   # decodes as Windows-1258: not our header
        read_catalogue(tmp_path / "b.csv")


def test_a_workbook_unpacking_too_large_is_refused_unopened(tmp_path, monkeypatch) -> None:
    from isobridge.core.report import catalogue_read

    book = Workbook()
    book.active.append(HEADER.strip().split(","))
    book.save(tmp_path / "danh-muc.xlsx")
    monkeypatch.setattr(catalogue_read, "MAX_UNPACKED", 1000)
    with pytest.raises(CatalogueFileError, match="unpacks to .* bytes, above the limit of 1000"):
        read_catalogue(tmp_path / "danh-muc.xlsx")
