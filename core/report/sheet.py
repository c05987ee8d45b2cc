"""The process control sheet (Phiếu kiểm soát quá trình giải quyết hồ sơ) of one dossier.

Laid out as Mẫu số 06 of Circular 03/2025/TT-VPCP (default) or Mẫu số 05 of Circular
01/2018/TT-VPCP: header (mã hồ sơ, cơ quan giải quyết, ngày nhận, hẹn trả kết quả), then one row
per hand-over — "1. Giao: <unit> / 2. Nhận: <unit>", its time, and the result of the handing
unit's step (trước hạn / đúng hạn / quá hạn), as the receiving side records it.
"""

from __future__ import annotations

from .html import esc, page
from .labels import DOSSIER_VERDICT, STEP_VERDICT
from .names import ProcedureNames
from .timefmt import vn_datetime

FORMS = {
    "06": ("Mẫu số 06", "Ban hành kèm theo Thông tư số 03/2025/TT-VPCP"),
    "05": ("Mẫu số 05", "Ban hành kèm theo Thông tư số 01/2018/TT-VPCP"),
}
CSS = """
.form { text-align: right; font-style: italic; font-size: 11pt; margin: 0; }
.motto { display: flex; justify-content: space-between; text-align: center; }
.motto b { display: block; }
.fields p { margin: 1mm 0; }
.sheet td:first-child { width: 32%; }
.sheet td:nth-child(2) { width: 30%; }
.sign { display: flex; justify-content: space-between; font-size: 10.5pt; margin-top: 1mm; }
"""
CITIZEN = "Tổ chức, cá nhân"


def handovers(evidence: dict, names: ProcedureNames) -> list[dict]:
    """Rows of the sheet: each hand-over with the result of the step that ended there."""
    steps = evidence.get("steps") or []
    procedure, received = evidence["procedure"], evidence["received_at"]
    rows = []
    for previous, step in zip(steps, steps[1:]):
        rows.append({
            "from": step.get("from_unit") or previous.get("unit") or "",
            "to": step.get("unit") or "",
            "at": step["started_at"],
            "result": STEP_VERDICT.get(previous.get("verdict"), previous.get("verdict")),
            "note": _note(previous, names.step(procedure, previous["step"], received)),
        })
    if steps and evidence.get("finished_at"):
        last = steps[-1]
        rows.append({
            "from": last.get("unit") or "", "to": CITIZEN, "at": last.get("finished_at") or evidence["finished_at"],
            "result": STEP_VERDICT.get(last.get("verdict"), last.get("verdict")),
            "note": _note(last, names.step(procedure, last["step"], received))
            + f"; hồ sơ: {DOSSIER_VERDICT.get(evidence['verdict'], evidence['verdict']).lower()}",
        })
    return rows


def _note(step: dict, name: str) -> str:
    used = step.get("used_minutes")
    allowed = step.get("allowed_minutes")
    spent = f"{used / 60:.1f}".replace(".", ",") if used is not None else "?"
    limit = f"/{allowed / 60:.1f}".replace(".", ",") if allowed is not None else ""
    return f"Bước {name}: {spent}{limit} giờ làm việc"


def render_sheet(evidence: dict, form: str = "06", names: ProcedureNames | None = None) -> str:
    """The control sheet of one evidence record as an A4 HTML document."""
    if form not in FORMS:
        raise ValueError(f"form {form!r}: choose 06 (TT 03/2025) or 05 (TT 01/2018)")
    names = names or ProcedureNames()
    number, circular = FORMS[form]
    agency = evidence.get("agency") or ""
    units = sorted({s.get("unit") for s in evidence.get("steps") or [] if s.get("unit")})
    rows = handovers(evidence, names)
    body = [
        f'<p class="form">{number}<br>({circular})</p>',
        f'<div class="motto"><div><b>{esc(agency.upper())}</b></div>'
        "<div><b>CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM</b><b><u>Độc lập - Tự do - Hạnh phúc</u></b></div></div>",
        "<h1>Phiếu kiểm soát quá trình giải quyết hồ sơ</h1>",
        '<div class="fields">',
        f"<p>Mã số hồ sơ: <b>{esc(evidence['dossier'])}</b></p>",
        f"<p>Thủ tục: {esc(names.procedure(evidence['procedure'], evidence['received_at']))} "
        f"({esc(evidence['procedure'])})</p>",
        f"<p>Cơ quan (bộ phận) giải quyết hồ sơ: {esc(agency)}</p>",
        f"<p>Cơ quan, đơn vị phối hợp giải quyết hồ sơ: {esc(', '.join(units))}</p>",
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
    return page(f"Phiếu kiểm soát {evidence['dossier']}", body, CSS)
