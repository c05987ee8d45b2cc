"""The auditor's working paper (phiếu ghi chép đánh giá nội bộ) of an audit sample, as HTML and CSV.

Per sampled dossier: its control sheet rows (step, units, start, finish, due, time used of the time
allowed in the row's unit, verdict), the nonconformities the engine found, and blank columns for the
auditor's finding and the evidence seen. The HTML prints on A4 landscape; the CSV is for filling in.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from .audit import FLAGGED_SHARE, MAXIMUM, MINIMUM, SIZE_BANDS, AuditPlan, Group
from .cells import safe_row
from .html import esc, number, page, table
from .labels import DOSSIER_VERDICT, STEP_VERDICT, nonconformity
from .names import ProcedureNames
from .timefmt import vn_date, vn_short
from .units import step_time
from .wording import nonconformity_detail

FINDING, SEEN = "Nhận xét của chuyên gia đánh giá", "Bằng chứng đã xem"
COLUMNS = ["STT", "Cơ quan", "Mã thủ tục", "Mã hồ sơ", "Nhóm mẫu", "Dòng", "Bước", "Đơn vị giao", "Đơn vị nhận",
           "Bắt đầu", "Kết thúc", "Hạn", "Thời gian đã dùng/cho phép", "Kết quả", "Điểm không phù hợp",
           FINDING, SEEN]
"""Columns of the working paper CSV; the last two are left blank for the auditor."""
STRATUM = {True: "Có điểm không phù hợp hoặc quá hạn", False: "Không có điểm không phù hợp"}
CSS = """
@page { size: A4 landscape; }
body { max-width: 277mm; }
h3 { font-size: 12pt; margin: 5mm 0 1mm; page-break-after: avoid; break-after: avoid; }
.fields p { margin: 0.5mm 0; }
table.paper { font-size: 9pt; }
table.paper td:nth-last-child(-n+2) { height: 9mm; }
table.steps th:nth-last-child(-n+2) { width: 15%; }
table.found th:nth-last-child(-n+2) { width: 22%; }
"""


def _step_name(names: ProcedureNames, evidence: dict, code: str | None) -> str:
    if not code:
        return ""
    name = names.step(evidence["procedure"], code, evidence["received_at"])
    return code if name == code else f"{name} ({code})"


def dossier_rows(evidence: dict, names: ProcedureNames, flagged: bool) -> Iterator[dict]:
    """The working paper rows of one dossier: the dossier, each step row, each nonconformity."""
    procedure, received, version = evidence["procedure"], evidence["received_at"], evidence.get("schema_version")
    base = {"Cơ quan": evidence.get("agency") or "", "Mã thủ tục": procedure, "Mã hồ sơ": evidence["dossier"],
            "Nhóm mẫu": STRATUM[flagged], FINDING: "", SEEN: ""}
    yield base | {"Dòng": "Hồ sơ", "Bắt đầu": vn_short(received),
                  "Kết thúc": vn_short(evidence.get("finished_at")), "Hạn": vn_short(evidence.get("due_at")),
                  "Kết quả": DOSSIER_VERDICT.get(evidence["verdict"], evidence["verdict"])}
    for index, row in enumerate(evidence.get("steps") or [], 1):
        code = row.get("step")
        yield base | {"Dòng": f"Bước {index}", "Bước": _step_name(names, evidence, code),
                      "Đơn vị giao": row.get("from_unit") or "", "Đơn vị nhận": row.get("unit") or "",
                      "Bắt đầu": vn_short(row.get("started_at")), "Kết thúc": vn_short(row.get("finished_at")),
                      "Hạn": vn_short(row.get("due_at")),
                      "Thời gian đã dùng/cho phép": step_time(row, version, names.limit_unit(procedure, code or "",
                                                                                             received)),
                      "Kết quả": STEP_VERDICT.get(row.get("verdict"), row.get("verdict"))}
    for index, found in enumerate(evidence.get("nonconformities") or [], 1):
        yield base | {"Dòng": f"Điểm không phù hợp {index}", "Bước": _step_name(names, evidence, found.get("step")),
                      "Điểm không phù hợp": f"{nonconformity(found.get('kind', ''))}: "
                                            f"{nonconformity_detail(found, evidence, names)}"}


def sampled(plan: AuditPlan, evidence: dict[str, dict]) -> Iterator[tuple[Group, dict, bool]]:
    """(group, evidence, flagged) of every drawn dossier: by group, flagged first, then by reception."""
    for group in plan.ordered():
        flagged, others = group.drawn()
        for codes, is_flagged in ((flagged, True), (others, False)):
            records = sorted((evidence[code] for code in codes if code in evidence),
                             key=lambda record: (record["received_at"], record["dossier"]))
            for record in records:
                yield group, record, is_flagged


def write_csv(path: Path, plan: AuditPlan, evidence: dict[str, dict], names: ProcedureNames) -> int:
    """Write the working paper CSV (formula cells neutralised); returns the dossiers written."""
    count = 0
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS, lineterminator="\r\n", restval="")
        writer.writeheader()
        for _, record, flagged in sampled(plan, evidence):
            count += 1
            for row in dossier_rows(record, names, flagged):
                writer.writerow(safe_row({"STT": count} | row))
    return count


def _period(plan: AuditPlan) -> str:
    start, end = plan.period.start, plan.period.end
    if start and end:
        return f"từ ngày {vn_date(start)} đến ngày {vn_date(end)}"
    if start or end:
        return f"từ ngày {vn_date(start)}" if start else f"đến ngày {vn_date(end)}"
    return "toàn bộ hồ sơ trong nguồn dữ liệu"


def _rule() -> list[str]:
    rows, low = [], 1
    for bound, size in SIZE_BANDS:
        band = f"{number(low)} – {number(bound)}" if bound else f"trên {number(low - 1)}"
        rows.append([band, "tất cả" if size is None else str(size)])
        low = (bound or 0) + 1
    share, whole = FLAGGED_SHARE
    return [
        table(["Số hồ sơ của thủ tục trong kỳ", "Cỡ mẫu"], rows, {1}),
        f'<p class="note">Tối thiểu {MINIMUM} hồ sơ (tất cả khi ít hơn), tối đa {MAXIMUM} hồ sơ mỗi thủ tục '
        "tại mỗi cơ quan. Hồ sơ của mỗi thủ tục chia hai nhóm: nhóm thứ nhất gồm hồ sơ có điểm không phù hợp, "
        "có bước xử lý quá hạn hoặc giải quyết quá hạn; nhóm thứ hai gồm các hồ sơ còn lại. "
        f"Tối đa {share}/{whole} cỡ mẫu (làm tròn lên) lấy từ nhóm thứ nhất, phần còn lại từ nhóm thứ hai; "
        "nhóm nào có hồ sơ thì có ít nhất một hồ sơ được chọn. Trong mỗi nhóm, hồ sơ được chọn ngẫu nhiên "
        "theo số khởi tạo: cùng số khởi tạo và cùng dữ liệu cho cùng một mẫu.</p>",
    ]


def _counts(plan: AuditPlan, names: ProcedureNames) -> str:
    rows = []
    for group in plan.ordered():
        flagged, others = group.drawn()
        rows.append([group.agency, group.procedure, names.procedure(group.procedure), number(group.count),
                     number(group.flagged.count), str(group.size), str(len(flagged)), str(len(others))])
    return table(["Cơ quan", "Mã thủ tục", "Tên thủ tục", "Số hồ sơ", "Có điểm không phù hợp hoặc quá hạn",
                  "Cỡ mẫu", "Chọn từ nhóm có điểm không phù hợp", "Chọn từ nhóm không có"], rows, {3, 4, 5, 6, 7})


def _dossier(index: int, record: dict, flagged: bool, names: ProcedureNames) -> list[str]:
    rows = list(dossier_rows(record, names, flagged))
    head, steps = rows[0], [row for row in rows if row["Dòng"].startswith("Bước")]
    found = [row for row in rows if row["Dòng"].startswith("Điểm")]
    cells = ["Bước", "Đơn vị giao", "Đơn vị nhận", "Bắt đầu", "Kết thúc", "Hạn", "Thời gian đã dùng/cho phép",
             "Kết quả"]
    body = [f"<h3>{index}. Hồ sơ {esc(record['dossier'])}</h3>", '<div class="fields">',
            f"<p>Thủ tục: {esc(names.procedure(record['procedure'], record['received_at']))} "
            f"({esc(record['procedure'])}) — {esc(head['Cơ quan'])}. Nhóm mẫu: {esc(STRATUM[flagged])}.</p>",
            f"<p>Nhận hồ sơ: {esc(head['Bắt đầu'])}; hẹn trả: {esc(head['Hạn']) or '—'}; trả kết quả: "
            f"{esc(head['Kết thúc']) or '—'}; kết quả: {esc(head['Kết quả'])}.</p></div>",
            table(cells + [FINDING, SEEN], [[row.get(c, "") for c in cells] + ["", ""] for row in steps]
                  or [["Không có bước xử lý."] + [""] * (len(cells) + 1)], css_class="paper steps"),
            table(["Bước", "Điểm không phù hợp", FINDING, SEEN],
                  [[row["Bước"], row["Điểm không phù hợp"], "", ""] for row in found]
                  or [["", "Hệ thống không ghi nhận điểm không phù hợp.", "", ""]], css_class="paper found")]
    return body


def render_paper(plan: AuditPlan, evidence: dict[str, dict], names: ProcedureNames, csv_name: str) -> str:
    """The plan (seed, period, size rule, counts per procedure) and the working paper, as HTML."""
    body = ["<h1>Kế hoạch chọn mẫu và phiếu ghi chép đánh giá nội bộ</h1>", '<div class="fields">',
            f"<p>Số khởi tạo chọn mẫu (seed): <b>{plan.seed}</b> — chọn lại đúng mẫu này: "
            f"<code>isobridge audit-sample … --seed {plan.seed}</code></p>",
            f"<p>Kỳ đánh giá: hồ sơ tiếp nhận {esc(_period(plan))}.</p>",
            f"<p>Cơ quan: {esc(plan.agency or 'tất cả các cơ quan trong nguồn dữ liệu')}.</p>",
            f"<p>Phiếu để điền: {esc(csv_name)}.</p></div>",
            "<h2>1. Quy tắc cỡ mẫu</h2>", *_rule(),
            "<h2>2. Số hồ sơ và cỡ mẫu theo thủ tục</h2>", _counts(plan, names),
            "<h2>3. Phiếu ghi chép đánh giá theo hồ sơ</h2>"]
    count = 0
    for _, record, flagged in sampled(plan, evidence):
        count += 1
        body.extend(_dossier(count, record, flagged, names))
    if not count:
        body.append("<p>Không có hồ sơ nào được tiếp nhận trong kỳ.</p>")
    return page(f"Chọn mẫu đánh giá nội bộ — seed {plan.seed}", body, CSS)


def write_paper(plan: AuditPlan, evidence: dict[str, dict], out: str | Path,
                names: ProcedureNames | None = None) -> tuple[Path, Path, int]:
    """Write the HTML plan and working paper to `out` and the CSV beside it: (html, csv, dossiers)."""
    names = names or ProcedureNames()
    html = Path(out)
    html.parent.mkdir(parents=True, exist_ok=True)
    sheet = html.with_suffix(".phieu-ghi-chep.csv")
    count = write_csv(sheet, plan, evidence, names)
    html.write_text(render_paper(plan, evidence, names, sheet.name), encoding="utf-8")
    return html, sheet, count
