"""The coverage report (báo cáo mức độ bao phủ quy trình ISO) as HTML to print and CSV lists.

The HTML: coverage per agency, each agency's procedures (dossiers, covered or not, first and last
reception), the drift from the national catalogue when one was given (with every catalogue row
that could not be read), and the records that could not be counted. Beside it two CSV files:
``….thu-tuc.csv`` (one row per agency and procedure) and, with a catalogue, ``….doi-chieu.csv``
(one row per finding, note or unreadable catalogue row); every cell goes through the formula
neutraliser.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from .catalogue import Catalogue
from .cells import safe_row
from .coverage import LISTED, Coverage, ProcedureUse
from .drift import NOTES, UPDATE_MONTHS, Finding
from .html import esc, number, page, percent, table
from .timefmt import vn_date

STATE = {"covered": "Có quy trình ISO", "partly": "Có quy trình cho một phần hồ sơ",
         "uncovered": "Chưa có quy trình ISO"}
KIND = {
    "limit": "Thời hạn của quy trình vượt thời hạn luật định",
    "not_comparable": "Không so sánh được thời hạn (khác đơn vị tính)",
    "abolished": "Thủ tục đã bãi bỏ hoặc bị thay thế nhưng vẫn tiếp nhận hồ sơ",
    "not_updated": f"Quy trình chưa cập nhật trong {UPDATE_MONTHS} tháng kể từ ngày văn bản có hiệu lực",
    "updated_late": f"Quy trình cập nhật sau {UPDATE_MONTHS} tháng kể từ ngày văn bản có hiệu lực",
    "due": "Quy trình còn trong hạn cập nhật",
    "not_in_catalogue": "Quy trình ISO có mã không thuộc danh mục đã nhập",
    "catalogue_error": "Dòng danh mục không đọc được",
}
"""Vietnamese heading of each kind of finding."""
USE_COLUMNS = ["Cơ quan", "Mã thủ tục", "Tên thủ tục", "Số hồ sơ", "Hồ sơ có quy trình ISO",
               "Hồ sơ không có quy trình ISO", "Tiếp nhận đầu tiên", "Tiếp nhận gần nhất", "Tình trạng"]
DRIFT_COLUMNS = ["Loại", "Mã thủ tục", "Tên thủ tục", "Cơ quan", "Phiên bản quy trình ISO",
                 "Danh mục thủ tục hành chính quốc gia", "Quy trình ISO", "Chi tiết"]
CSS = """
h3 { font-size: 12pt; margin: 4mm 0 1mm; page-break-after: avoid; break-after: avoid; }
.fields p { margin: 0.5mm 0; }
ul.errors { font-size: 10pt; }
table.drift { font-size: 9.5pt; }
"""


@dataclass
class CoverageInput:
    """What the coverage report shows: the counts, the drift (with a catalogue) and where from."""

    coverage: Coverage
    source: str
    procedures: str
    as_of: date
    catalogue: Catalogue | None = None
    findings: list[Finding] = field(default_factory=list)
    name: Callable[[str], str] = str
    """Procedure code → its name (the code when unknown)."""


def _day(text: str) -> str:
    return vn_date(text) if text else ""


def use_row(use: ProcedureUse, name: Callable[[str], str]) -> dict:
    """The CSV row of one procedure at one agency."""
    return {"Cơ quan": use.agency, "Mã thủ tục": use.procedure, "Tên thủ tục": name(use.procedure),
            "Số hồ sơ": use.dossiers, "Hồ sơ có quy trình ISO": use.covered,
            "Hồ sơ không có quy trình ISO": use.uncovered, "Tiếp nhận đầu tiên": _day(use.first),
            "Tiếp nhận gần nhất": _day(use.last), "Tình trạng": STATE[use.state]}


def drift_rows(data: CoverageInput) -> Iterable[dict]:
    """The CSV rows of the drift: each finding or note, then each unreadable catalogue row."""
    for found in data.findings:
        yield {"Loại": KIND[found.kind], "Mã thủ tục": found.procedure, "Tên thủ tục": found.name,
               "Cơ quan": found.agency, "Phiên bản quy trình ISO": found.version,
               "Danh mục thủ tục hành chính quốc gia": found.catalogue, "Quy trình ISO": found.iso,
               "Chi tiết": found.detail}
    for error in data.catalogue.errors if data.catalogue else []:
        yield {"Loại": KIND["catalogue_error"], "Chi tiết": error}


def _write_csv(path: Path, columns: list[str], rows: Iterable[dict]) -> None:
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, columns, lineterminator="\r\n", restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow(safe_row(row))


def _period(data: CoverageInput) -> str:
    start, end = data.coverage.period.start, data.coverage.period.end
    if start or end:
        return f"hồ sơ tiếp nhận từ ngày {_day(start or '') or '…'} đến ngày {_day(end or '') or '…'}"
    return "toàn bộ hồ sơ trong sổ cái"


def _agencies(data: CoverageInput) -> str:
    rows = []
    for agency in data.coverage.agencies():
        rows.append([agency.agency or "(không ghi cơ quan)", number(len(agency.procedures)),
                     number(len(agency.with_state("covered"))), number(len(agency.with_state("partly"))),
                     number(len(agency.with_state("uncovered"))), number(agency.dossiers),
                     number(agency.covered_dossiers), percent(agency.rate), percent(agency.dossier_rate)])
    return table(["Cơ quan", "Số thủ tục có hồ sơ", "Có quy trình ISO", "Có quy trình cho một phần hồ sơ",
                  "Chưa có quy trình ISO", "Số hồ sơ", "Hồ sơ có quy trình ISO", "Tỷ lệ thủ tục có quy trình",
                  "Tỷ lệ hồ sơ có quy trình"], rows or [["Không có hồ sơ nào trong kỳ."] + [""] * 8],
                 set(range(1, 9)))


def _procedures(data: CoverageInput) -> list[str]:
    body = []
    for agency in data.coverage.agencies():
        body.append(f"<h3>{esc(agency.agency or '(không ghi cơ quan)')}</h3>")
        rows = [[str(value) if not isinstance(value, int) else number(value)
                 for key, value in use_row(use, data.name).items() if key != "Cơ quan"]
                for use in agency.procedures]
        body.append(table(USE_COLUMNS[1:], rows, {2, 3, 4}))
    return body


def _drift(data: CoverageInput) -> list[str]:
    catalogue = data.catalogue
    if catalogue is None:
        return ["<p>Chưa nhập danh mục thủ tục hành chính quốc gia (tùy chọn <code>--catalogue</code>).</p>"]
    body = [f"<p>Danh mục: {esc(catalogue.path.name)} — {number(len(catalogue.entries))} thủ tục đọc được, "
            f"{number(len(catalogue.errors))} dòng không đọc được. Ngày đối chiếu: {vn_date(data.as_of)}.</p>",
            '<p class="note">Thời hạn so sánh theo phiên bản quy trình có hiệu lực vào ngày đối chiếu; ngày làm '
            "việc và giờ làm việc quy đổi theo số giờ làm việc một ngày của lịch làm việc; ngày làm việc không "
            "quy đổi được sang ngày theo lịch. Quy trình phải được cập nhật trong "
            f"{UPDATE_MONTHS} tháng kể từ ngày văn bản quyết định có hiệu lực (theo yêu cầu của Quyết định "
            "19/2014/QĐ-TTg về cập nhật quy trình khi văn bản pháp luật thay đổi).</p>"]
    for index, kind in enumerate(k for k in KIND if k != "catalogue_error"):
        found = [f for f in data.findings if f.kind == kind]
        label = KIND[kind] + (" (ghi chú)" if kind in NOTES else "")
        body.append(f"<h3>3.{index + 1}. {esc(label)}: {number(len(found))}</h3>")
        if found:
            body.append(table(DRIFT_COLUMNS[1:], [[f.procedure, f.name, f.agency, f.version, f.catalogue, f.iso,
                                                   f.detail] for f in found], css_class="drift"))
    body.append(f"<h3>{esc(KIND['catalogue_error'])}: {number(len(catalogue.errors))}</h3>")
    if catalogue.errors:
        body.append('<ul class="errors">' + "".join(f"<li>{esc(e)}</li>" for e in catalogue.errors) + "</ul>")
    return body


def render_coverage(data: CoverageInput, csv_names: list[str]) -> str:
    """The coverage report as one HTML page (no scripts, no external assets)."""
    coverage = data.coverage
    body = ["<h1>Báo cáo mức độ bao phủ quy trình ISO và đối chiếu danh mục thủ tục hành chính</h1>",
            '<div class="fields">',
            f"<p>Kỳ báo cáo: {esc(_period(data))}.</p>",
            f"<p>Cơ quan: {esc(coverage.agency or 'tất cả các cơ quan trong sổ cái')}.</p>",
            f"<p>Nguồn dữ liệu: {esc(data.source)}; quy trình ISO: {esc(data.procedures)}.</p>",
            f"<p>Danh sách để xử lý tiếp: {esc(', '.join(csv_names))}.</p></div>",
            '<p class="note">Một hồ sơ được tính là có quy trình ISO khi có phiên bản quy trình cùng mã thủ tục '
            "có hiệu lực vào ngày tiếp nhận hồ sơ. Tỷ lệ thủ tục có quy trình: số thủ tục mà mọi hồ sơ đều có "
            "quy trình trên số thủ tục có hồ sơ trong kỳ.</p>",
            "<h2>1. Tỷ lệ bao phủ theo cơ quan</h2>", _agencies(data),
            "<h2>2. Thủ tục hành chính theo cơ quan</h2>", *_procedures(data),
            "<h2>3. Đối chiếu với danh mục thủ tục hành chính quốc gia</h2>", *_drift(data),
            f"<h2>4. Bản ghi không sử dụng được: {number(coverage.unusable)}</h2>"]
    if coverage.unusable_listed:
        more = coverage.unusable - len(coverage.unusable_listed)
        body.append('<ul class="errors">' + "".join(f"<li>{esc(line)}</li>" for line in coverage.unusable_listed)
                    + (f"<li>… và {number(more)} bản ghi khác (chỉ liệt kê {LISTED} bản ghi đầu)</li>" if more else "")
                    + "</ul>")
    return page("Mức độ bao phủ quy trình ISO", body, CSS)


def write_coverage(data: CoverageInput, out: str | Path) -> tuple[Path, list[Path]]:
    """Write the HTML to `out` and the CSV lists beside it: (html, csv files)."""
    html = Path(out)
    html.parent.mkdir(parents=True, exist_ok=True)
    uses = html.with_suffix(".thu-tuc.csv")
    _write_csv(uses, USE_COLUMNS, (use_row(use, data.name) for agency in data.coverage.agencies()
                                   for use in agency.procedures))
    written = [uses]
    if data.catalogue is not None:
        drift_csv = html.with_suffix(".doi-chieu.csv")
        _write_csv(drift_csv, DRIFT_COLUMNS, drift_rows(data))
        written.append(drift_csv)
    html.write_text(render_coverage(data, [path.name for path in written]), encoding="utf-8")
    return html, written
