"""The process control sheet (Phiếu kiểm soát quá trình giải quyết hồ sơ) of one dossier.

Laid out as Mẫu số 06 of Circular 03/2025/TT-VPCP (default) or Mẫu số 05 of Circular
01/2018/TT-VPCP: header (mã hồ sơ, cơ quan giải quyết, ngày nhận, hẹn trả kết quả), then one row
per hand-over — "1. Giao: <unit> / 2. Nhận: <unit>", its time, and the result of the handing
unit's step (trước hạn / đúng hạn / quá hạn), as the receiving side records it.
"""

from __future__ import annotations

from datetime import date

from .agencies import AgencyHeader, DocumentSettings
from .html import esc, page
from .labels import DOSSIER_VERDICT, STEP_VERDICT
from .names import ProcedureNames
from .timefmt import local, vn_datetime, vn_place_date
from .units import step_time

FORMS = {
    "06": ("Mẫu số 06", "Ban hành kèm theo Thông tư số 03/2025/TT-VPCP", "A4"),
    "05": ("Mẫu số 05", "Ban hành kèm theo Thông tư số 01/2018/TT-VPCP", "A5"),
}
"""Form → (number, circular, paper): Circular 01/2018 designs forms 01–05 for A5, form 06 of 03/2025 is A4."""
CSS = """
.form { text-align: right; font-style: italic; font-size: 0.85em; margin: 0; }
.head { width: 100%; border-collapse: collapse; margin: 0 0 2mm; font-size: 1em; }
.head td { border: none; padding: 0; text-align: center; vertical-align: top; }
.head td:first-child { width: 42%; }
.head b { display: block; }
.head .rule { display: block; width: 30%; margin: 0.5mm auto 1mm; border-top: 1px solid #000; }
.head .place { display: block; font-style: italic; margin-top: 1.5mm; }
.fields p { margin: 1mm 0; }
.sheet { table-layout: fixed; }
.sheet th:first-child { width: 30%; }
.sheet th:nth-child(2) { width: 25%; }
.sheet th:nth-child(3) { width: 15%; }
.sign { display: flex; justify-content: space-between; font-size: 0.8em; margin-top: 1mm; }
"""
A4_CSS = """
html { font-size: 12pt; }
body { line-height: 1.3; }
h1 { margin: 4mm 0 2mm; }
.fields p { margin: 0.5mm 0; }
table { font-size: 10.5pt; }
th, td { padding: 1mm 1.5mm; }
"""
A5_CSS = """
@page { size: A5; margin: 8mm 8mm 8mm 12mm; }
html { font-size: 9pt; }
body { max-width: none; padding: 0; line-height: 1.25; }
h1 { font-size: 11pt; margin: 2mm 0 1mm; }
.fields p { margin: 0.5mm 0; }
table { font-size: 8pt; margin: 1mm 0 2mm; }
th, td { padding: 0.6mm 1mm; }
.note { font-size: 8pt; }
"""
CITIZEN = "Tổ chức, cá nhân"
AGENCY_PREFIXES = ("Sở ", "UBND ", "Ủy ban nhân dân ", "Công an ", "Chi cục ", "Cục ", "Kho bạc ",
                   "Bảo hiểm xã hội ", "Văn phòng đăng ký đất đai", "Chi nhánh ", "Tòa án ", "Viện kiểm sát ",
                   "Ban Quản lý ", "Thuế ")
"""Unit names that are agencies of their own (a partner of the dossier), not a department."""


def handovers(evidence: dict, names: ProcedureNames) -> list[dict]:
    """Rows of the sheet: each hand-over with the result of the step that ended there."""
    steps = evidence.get("steps") or []
    version = evidence.get("schema_version")
    rows = []
    for previous, step in zip(steps, steps[1:]):
        rows.append({
            "from": step.get("from_unit") or previous.get("unit") or "",
            "to": step.get("unit") or "",
            "at": step["started_at"],
            "result": STEP_VERDICT.get(previous.get("verdict"), previous.get("verdict")),
            "note": _note(evidence, previous, names, version),
        })
    if steps and evidence.get("finished_at"):
        last = steps[-1]
        rows.append({
            "from": last.get("unit") or "", "to": CITIZEN, "at": last.get("finished_at") or evidence["finished_at"],
            "result": STEP_VERDICT.get(last.get("verdict"), last.get("verdict")),
            "note": _note(evidence, last, names, version)
            + f"; hồ sơ: {DOSSIER_VERDICT.get(evidence['verdict'], evidence['verdict']).lower()}",
        })
    return rows


def _note(evidence: dict, step: dict, names: ProcedureNames, version: int | None) -> str:
    procedure, received = evidence["procedure"], evidence["received_at"]
    name = names.step(procedure, step["step"], received)
    return f"Bước {name}: {step_time(step, version, names.limit_unit(procedure, step['step'], received))}"


def partners(evidence: dict, header: AgencyHeader) -> list[str]:
    """Other agencies the dossier went to (liên thông), in the order it reached them."""
    agency = evidence.get("agency") or ""
    own = {agency, header.department, header.governing_body, *header.own_units}
    found: dict[str, None] = {}
    for row in evidence.get("steps") or []:
        for unit in (row.get("from_unit"), row.get("unit")):
            if unit and unit not in own and (unit in header.partner_units or unit.startswith(AGENCY_PREFIXES)):
                found[unit] = None
    return list(found)


def sheet_day(evidence: dict) -> date:
    """The date the sheet is drawn up on: the dossier's finishing day, else its last hand-over's."""
    steps = evidence.get("steps") or []
    last = evidence.get("finished_at") or (steps[-1]["started_at"] if steps else evidence["received_at"])
    return local(last).date()


def _header(evidence: dict, header: AgencyHeader, form: str) -> list[str]:
    number, circular, _ = FORMS[form]
    return [
        f'<p class="form">{number}<br>({circular})</p>',
        '<table class="head"><tr><td>'
        f"<span>{esc((header.governing_body or '').upper())}</span><b>{esc(header.department.upper())}</b>"
        f'<span class="rule"></span><span>Số: ……/{esc(header.number_suffix)}</span></td>'
        "<td><b>CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM</b><b><u>Độc lập - Tự do - Hạnh phúc</u></b>"
        f'<span class="place">{esc(vn_place_date(header.place, sheet_day(evidence)))}</span></td></tr></table>',
    ]


def render_sheet(evidence: dict, form: str = "06", names: ProcedureNames | None = None,
                 documents: DocumentSettings | None = None) -> str:
    """The control sheet of one evidence record as an HTML document (A4 for form 06, A5 for form 05)."""
    if form not in FORMS:
        raise ValueError(f"form {form!r}: choose 06 (TT 03/2025) or 05 (TT 01/2018)")
    names = names or ProcedureNames()
    agency = evidence.get("agency") or ""
    header = (documents or DocumentSettings()).header(agency)
    coordinating = partners(evidence, header)
    rows = handovers(evidence, names)
    body = _header(evidence, header, form) + [
        "<h1>Phiếu kiểm soát quá trình giải quyết hồ sơ</h1>",
        '<div class="fields">',
        f"<p>Mã số hồ sơ: <b>{esc(evidence['dossier'])}</b></p>",
        f"<p>Thủ tục: {esc(names.procedure(evidence['procedure'], evidence['received_at']))} "
        f"({esc(evidence['procedure'])})</p>",
        f"<p>Cơ quan (bộ phận) giải quyết hồ sơ: {esc(agency)}</p>",
        f"<p>Cơ quan, đơn vị phối hợp giải quyết hồ sơ: {esc(', '.join(coordinating) or 'Không có')}</p>",
        f"<p>Ngày nhận: {esc(vn_datetime(evidence['received_at']))}</p>",
        f"<p>Hẹn trả kết quả: {esc(vn_datetime(evidence.get('due_at')))}</p>",
        "</div>",
        '<table class="sheet"><thead><tr><th>Tên đơn vị</th><th>Thời gian giao, nhận hồ sơ</th>'
        "<th>Kết quả giải quyết hồ sơ (trước hạn / đúng hạn / quá hạn)</th><th>Ghi chú</th></tr></thead><tbody>",
    ]
    for row in rows:
        body.append(
            f"<tr><td>1. Giao: {esc(row['from'])}<br>2. Nhận: {esc(row['to'])}</td>"
            f"<td>{esc(vn_datetime(row['at']))}"
            '<div class="sign"><span>Người giao</span><span>Người nhận</span></div></td>'
            f"<td>{esc(row['result'])}</td><td>{esc(row['note'])}</td></tr>"
        )
    if not rows:
        body.append('<tr><td colspan="4">Chưa có lượt giao, nhận hồ sơ.</td></tr>')
    body.append("</tbody></table>")
    body.append('<p class="note">Phiếu được lập tự động từ nhật ký xử lý hồ sơ trên hệ thống thông tin '
                f"giải quyết thủ tục hành chính. Kết quả chung: "
                f"{esc(DOSSIER_VERDICT.get(evidence['verdict'], evidence['verdict']))}.</p>")
    css = CSS + (A5_CSS if FORMS[form][2] == "A5" else A4_CSS)
    return page(f"Phiếu kiểm soát {evidence['dossier']}", body, css)
