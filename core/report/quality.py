"""The quality-objective report (Báo cáo kết quả thực hiện mục tiêu chất lượng) as one HTML file."""

from __future__ import annotations

import re

from . import labels
from .aggregate import Counts, Lateness, ReportData
from .charts import lateness_bars, monthly_rate
from .html import esc, number, page, percent, table
from .names import ProcedureNames
from .objectives import Objective, Objectives
from .timefmt import vn_date, vn_month, vn_short, vn_today
from .units import CALENDAR, UNIT, V1_NOTE, WORKING, amount

CSS = """
.motto { display: flex; justify-content: space-between; text-align: center; font-size: 12.5pt; }
.motto b { display: block; }
.sub { text-align: center; margin: 0 0 4mm; }
"""
PROGRESS_HEAD = (
    '<tr><th rowspan="2">{first}</th><th rowspan="2">Tiếp nhận trong kỳ</th><th rowspan="2">Kỳ trước chuyển qua</th>'
    '<th colspan="4">Đã giải quyết</th><th colspan="3">Đang giải quyết</th><th rowspan="2">Từ chối, rút, dừng</th></tr>'
    "<tr><th>Trước hạn</th><th>Đúng hạn</th><th>Quá hạn</th><th>Tỷ lệ đúng hạn</th>"
    "<th>Trong hạn</th><th>Quá hạn</th><th>Tạm dừng</th></tr>"
)
TOP = 12


def _progress_row(name: str, c: Counts) -> list[str]:
    return [name] + [number(v) for v in (c.received, c.carried_over, c.early, c.on_time, c.late)] + [
        percent(c.on_time_rate)] + [number(v) for v in (c.open_on_time, c.open_overdue, c.paused,
                                                         c.refused + c.withdrawn + c.stopped)]


def _verdict(objective: Objective, counts: Counts) -> str:
    met = objective.met(counts)
    if met is None:
        return "Chưa có số liệu"
    return '<span class="ok">Đạt</span>' if met else '<span class="bad">Không đạt</span>'


SIGNS = {">=": "≥", "<=": "≤", "==": "="}


def _target(objective: Objective) -> str:
    ratio = objective.indicator.endswith("_rate")
    sign = SIGNS.get(objective.op, objective.op)
    return f"{sign} {percent(objective.target) if ratio else number(int(objective.target))}"


def _value(objective: Objective, counts: Counts) -> str:
    value = objective.value(counts)
    if value is None:
        return "—"
    return percent(value) if objective.indicator.endswith("_rate") else number(int(value))


def _objectives(data: ReportData, objectives: Objectives) -> list[str]:
    own = objectives.for_agency(data.agency)
    out = ["<h2>II. Kết quả thực hiện mục tiêu chất lượng</h2>"]
    out.append(table(["Chỉ tiêu", "Mục tiêu", "Thực hiện", "Đánh giá"],
                     ([esc(o.label), esc(_target(o)), esc(_value(o, data.total)), _verdict(o, data.total)] for o in own),
                     raw=True))
    if data.agency is None and len(data.by_agency) > 1:
        rows = []
        for agency, counts in sorted(data.by_agency.items()):
            for o in objectives.for_agency(agency):
                rows.append([esc(agency), esc(o.label), esc(_target(o)), esc(_value(o, counts)), _verdict(o, counts)])
        out.append("<p>Theo từng cơ quan:</p>")
        out.append(table(["Cơ quan", "Chỉ tiêu", "Mục tiêu", "Thực hiện", "Đánh giá"], rows, raw=True))
    return out


def _lateness(title: str, items: list[tuple[str, Lateness]], chart_label: str) -> list[str]:
    ranked = sorted(items, key=lambda kv: (-kv[1].late, -kv[1].rows, kv[0]))[:TOP]
    out = [f"<h2>{esc(title)}</h2>"]
    if not ranked:
        return out + ["<p>Không có dữ liệu.</p>"]
    out.append(lateness_bars([(name, s.late, s.rows) for name, s in ranked], chart_label))
    out.append(table(["Tên", "Lượt xử lý", "Trễ hạn", "Tỷ lệ trễ hạn",
                      "Thời gian trung bình một lượt: đã dùng / cho phép (đơn vị ghi kèm)"],
                     ([name, number(s.rows), number(s.late), percent(s.late_rate), _times(s)]
                      for name, s in ranked), numeric={1, 2, 3, 4}))
    return out


def _times(stats: Lateness) -> str:
    """Average used / allowed time per finished row, one unit per basis (never summed together)."""
    parts = []
    for unit in (WORKING, CALENDAR):
        found = stats.minutes.get(unit)
        if found and found.rows:
            parts.append(f"{amount(found.used / found.rows, unit)} / {amount(found.allowed / found.rows, unit)} "
                         f"{UNIT[unit]}")
    old = stats.minutes.get("v1")
    if old and old.rows:
        parts.append(f"{amount(old.used / old.rows, WORKING)} {UNIT[WORKING]} đã dùng ({V1_NOTE})")
    return "; ".join(parts) or "—"


def _more(shown: int, total: int, csv_path: str | None) -> str:
    if total <= shown:
        return ""
    where = f" Danh sách đầy đủ: tệp <code>{esc(csv_path)}</code>." if csv_path else ""
    return f'<p class="note">Hiển thị {number(shown)} / {number(total)} dòng đầu.{where}</p>'


def _nonconformities(data: ReportData, names: ProcedureNames, csv_path: str | None) -> list[str]:
    total = sum(data.nonconformity_kinds.values())
    out = ["<h2>V. Danh sách điểm không phù hợp (đề xuất hành động khắc phục)</h2>"]
    out.append(table(["Loại điểm không phù hợp", "Số lượng"],
                     ([labels.nonconformity(k), number(v)] for k, v in
                      sorted(data.nonconformity_kinds.items(), key=lambda kv: -kv[1])), numeric={1}))
    rows = (
        [str(i), nc["dossier"], names.procedure(nc["procedure"]), nc["agency"], labels.nonconformity(nc["kind"]),
         names.step(nc["procedure"], nc["step"]) if nc["step"] else "", nc["detail"], "", "", ""]
        for i, nc in enumerate(data.nonconformities, 1)
    )
    out.append(table(["STT", "Mã hồ sơ", "Thủ tục", "Cơ quan", "Loại", "Bước", "Mô tả",
                      "Nguyên nhân", "Hành động khắc phục", "Thời hạn, người thực hiện"], rows))
    out.append(_more(len(data.nonconformities), total, csv_path))
    return out


def _ledger(data: ReportData, names: ProcedureNames, csv_path: str | None) -> list[str]:
    out = ["<h2>VI. Sổ theo dõi hồ sơ</h2>",
           '<p class="note">Các cột tên, địa chỉ, số điện thoại của tổ chức, cá nhân không có trong dữ liệu '
           "minh chứng (dữ liệu cá nhân) và được ghi trên sổ tại Bộ phận Một cửa.</p>"]
    rows = (
        [str(i), r["dossier"], names.procedure(r["procedure"], r["received_at"]), r["agency"],
         labels.channel(r["channel"]), vn_short(r["received_at"]), vn_short(r["due_at"]),
         vn_short(r["finished_at"]), labels.DOSSIER_VERDICT.get(r["outcome"], r["outcome"])]
        for i, r in enumerate(data.ledger, 1)
    )
    out.append(table(["STT", "Mã hồ sơ", "Tên thủ tục hành chính", "Cơ quan chủ trì giải quyết", "Kênh",
                      "Nhận hồ sơ", "Hẹn trả kết quả", "Trả kết quả", "Kết quả"], rows))
    out.append(_more(len(data.ledger), data.total.dossiers, csv_path))
    return out


PORTAL = "như Cổng Dịch vụ công quốc gia"
WITHDRAWN = {
    "on_time": f"Hồ sơ công dân rút (trạng thái 7): tính là đã giải quyết đúng hạn, vào ngày rút ({PORTAL}).",
    "by_date": "Hồ sơ công dân rút (trạng thái 7): tính là đã giải quyết, trước hạn / đúng hạn / quá hạn theo "
               "ngày rút so với ngày hẹn trả kết quả.",
    "excluded": "Hồ sơ công dân rút (trạng thái 7): không tính vào số đã giải quyết và tỷ lệ đúng hạn; ghi ở cột "
                "Từ chối, rút, dừng.",
}
REFUSED = {
    "excluded": f"Hồ sơ không được tiếp nhận (trạng thái 3): không tính (hồ sơ chưa được tiếp nhận, {PORTAL}).",
    "listed": "Hồ sơ không được tiếp nhận (trạng thái 3): ghi ở cột Từ chối, rút, dừng; không tính vào tỷ lệ "
              "đúng hạn.",
}
GRANULARITY = {
    "day": f"Đúng hạn so theo ngày: hồ sơ hoàn thành trong ngày hẹn trả kết quả là đúng hạn, trước ngày đó là "
           f"trước hạn ({PORTAL}).",
    "minute": "Đúng hạn so theo thời điểm: hồ sơ hoàn thành sau giờ hẹn trả kết quả là quá hạn, kể cả trong ngày "
              "hẹn; hoàn thành trước ngày hẹn là trước hạn.",
}


def rules_used(rules) -> list[str]:
    """The counting rules of the report, in words (printed under the progress table)."""
    return [WITHDRAWN[rules.withdrawn], REFUSED[rules.refused], GRANULARITY[rules.granularity],
            "Hồ sơ dừng giải quyết (trạng thái 8): ghi ở cột Từ chối, rút, dừng; không tính vào tỷ lệ đúng hạn.",
            "Tỷ lệ đúng hạn = (trước hạn + đúng hạn) / số hồ sơ đã giải quyết trong kỳ."]


FIELDS = {"dossier": "mã hồ sơ", "procedure": "mã thủ tục", "received_at": "ngày nhận", "verdict": "kết quả",
          "steps": "các bước", "nonconformities": "điểm không phù hợp"}
REASONS = (
    (re.compile(r"^(\w+): missing$"), lambda m: f"thiếu {FIELDS.get(m[1], m[1])}"),
    (re.compile(r"^verdict: (.*) is not a dossier verdict$"), lambda m: f"kết quả {m[1]} không hợp lệ"),
    (re.compile(r"^(\w+): expected a list$"), lambda m: f"{FIELDS.get(m[1], m[1])} phải là danh sách"),
    (re.compile(r"^expected an object, got (\w+)$"), lambda m: "bản ghi không phải đối tượng JSON"),
)


def rejection(text: str) -> str:
    """A rejected record's place and reasons in Vietnamese ('hồ sơ X: thiếu trường steps')."""
    head, _, rest = text.partition(": ")
    if head.startswith("dossier "):
        head = "hồ sơ " + head[len("dossier "):]
    elif re.fullmatch(r".+:\d+", head):
        name, _, line = head.rpartition(":")
        head = f"tệp {name}, dòng {line}"
    words = []
    for reason in rest.split("; "):
        for pattern, say in REASONS:
            if found := pattern.match(reason):
                words.append(say(found))
                break
        else:
            words.append(f"dữ liệu không đọc được ({reason})")
    return f"{head}: {'; '.join(words)}"


def _period(data: ReportData) -> str:
    start, end = data.period.start, data.period.end
    if start and end:
        return f"Kỳ báo cáo: từ ngày {vn_date(start)} đến ngày {vn_date(end)}"
    if start:
        return f"Kỳ báo cáo: từ ngày {vn_date(start)}"
    if end:
        return f"Kỳ báo cáo: đến ngày {vn_date(end)}"
    return "Kỳ báo cáo: toàn bộ dữ liệu"


def render_report(data: ReportData, objectives: Objectives | None = None, names: ProcedureNames | None = None,
                  ledger_csv: str | None = None, nonconformities_csv: str | None = None) -> str:
    """The whole report as an HTML document."""
    objectives = objectives or Objectives.standard()
    names = names or ProcedureNames()
    scope = data.agency or "Toàn tỉnh (tất cả cơ quan)"
    body = [
        f'<div class="motto"><div><b>{esc(data.agency or "")}</b></div>'
        "<div><b>CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM</b><b><u>Độc lập - Tự do - Hạnh phúc</u></b></div></div>",
        "<h1>Báo cáo kết quả thực hiện mục tiêu chất lượng</h1>",
        f'<p class="sub">Giải quyết thủ tục hành chính — {esc(scope)}<br>{esc(_period(data))}<br>'
        f"Lập ngày {vn_date(vn_today())}</p>",
        "<h2>I. Tiến độ giải quyết hồ sơ (theo Quyết định 766/QĐ-TTg)</h2>",
        table(PROGRESS_HEAD.format(first="Kênh tiếp nhận"),
              [_progress_row("Tổng số", data.total)]
              + [_progress_row(labels.channel(k), v) for k, v in sorted(data.by_channel.items())],
              numeric=set(range(1, 11)), css_class="wide"),
        f'<p class="note">Tổng số hồ sơ trong kỳ: {number(data.total.dossiers)}; đã giải quyết: '
        f"{number(data.total.finished)}; số điểm không phù hợp: {number(data.total.nonconformities)}.</p>",
        "<p>Quy tắc tính:</p><ul class=\"rules\">" + "".join(f"<li>{esc(rule)}</li>" for rule in rules_used(data.rules))
        + "</ul>",
    ]
    if data.agency is None and len(data.by_agency) > 1:
        body.append(table(PROGRESS_HEAD.format(first="Cơ quan"),
                          [_progress_row(k or "(không rõ)", v) for k, v in sorted(data.by_agency.items())],
                          numeric=set(range(1, 11)), css_class="wide"))
    body += _objectives(data, objectives)
    body += _charts(data, objectives)
    body += _lateness("IV.1. Các bước có hồ sơ trễ hạn",
                      [(f"{names.step(p, s)} ({names.procedure(p)})", v) for (p, s), v in data.by_step.items()],
                      "Tỷ lệ trễ hạn theo bước xử lý")
    body += _lateness("IV.2. Các đơn vị có hồ sơ trễ hạn",
                      [(u or "(không rõ)", v) for u, v in data.by_unit.items()], "Tỷ lệ trễ hạn theo đơn vị")
    body += _nonconformities(data, names, nonconformities_csv)
    body += _ledger(data, names, ledger_csv)
    if data.rejected:
        body.append(f'<h2>Bản ghi không sử dụng được</h2><p class="bad">{number(data.rejected)} bản ghi minh '
                    "chứng không đọc được và không được tính:</p><ul>"
                    + "".join(f"<li>{esc(rejection(r))}</li>" for r in data.rejections) + "</ul>")
    return page(f"Báo cáo mục tiêu chất lượng — {scope}", body, CSS)


def _charts(data: ReportData, objectives: Objectives) -> list[str]:
    target = next((o.target for o in objectives.for_agency(data.agency)
                   if o.indicator == "on_time_rate" and o.op in (">=", ">")), None)
    points = [(vn_month(m), c.on_time_rate, c.finished) for m, c in sorted(data.by_month.items())]
    out = ["<h2>III. Tỷ lệ giải quyết đúng hạn theo tháng</h2>"]
    if points:
        out.append(monthly_rate(points, target, "Tỷ lệ hồ sơ giải quyết trước hạn và đúng hạn theo tháng"))
    else:
        out.append("<p>Chưa có hồ sơ hoàn thành trong kỳ.</p>")
    return out
