"""The roll-up as one HTML file in the report's style and a CSV of every agency's row.

Báo cáo tổng hợp cho Ban Chỉ đạo ISO tỉnh: agencies ranked, the units proposed for direct
inspection, the comparison with the previous period (for the management review, xem xét của lãnh
đạo) and when each source last brought its data in.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from .aggregate import Counts, Period
from .html import esc, number, page, percent, table
from .objectives import Objectives
from .quality import CSS, rejection, rules_used
from .rollup import EVIDENCE, LEDGER, Freshness, Rollup, input_freshness
from .rollup_rank import RANKING_RULE, Inspection, Standing, inspection, province, standings
from .cells import safe_row
from .timefmt import vn_date, vn_short, vn_today

MEASURES = (
    "Số hồ sơ: hồ sơ tiếp nhận trong kỳ và kỳ trước chuyển qua, tính như báo cáo mục tiêu chất lượng "
    "(Quyết định 766/QĐ-TTg).",
    "Điểm không phù hợp trên 100 hồ sơ = số điểm không phù hợp của các hồ sơ đó × 100 / số hồ sơ.",
    "Tỷ lệ hồ sơ có quy trình ISO = hồ sơ tiếp nhận trong kỳ mà thủ tục có quy trình ISO còn hiệu lực vào ngày "
    "tiếp nhận / hồ sơ tiếp nhận trong kỳ đã rõ thủ tục; tính từ sổ cái của hệ thống, kể cả hồ sơ không đánh giá "
    "được. Với tệp minh chứng (chỉ có hồ sơ đã đánh giá) tỷ lệ này chưa xác định.",
    "Dữ liệu cập nhật đến: với sổ cái, lần đồng bộ gần nhất của nguồn dữ liệu (lần chuyển điểm dừng, hoặc lần đồng "
    "bộ thành công gần nhất đã đọc nguồn đó, lấy lần muộn hơn); với tệp minh chứng, thời điểm sự kiện mới nhất ghi "
    "trong tệp (tệp minh chứng không ghi thời điểm đánh giá). Cơ quan có nhiều nguồn: lấy nguồn cập nhật cũ nhất.",
)
"""What each measure of the ranking means, in the report's words."""
HEAD = ("Hạng", "Cơ quan", "Số hồ sơ", "Đã giải quyết", "Tỷ lệ đúng hạn", "Mục tiêu không đạt",
        "Điểm không phù hợp / 100 hồ sơ", "Tỷ lệ hồ sơ có quy trình ISO", "Dữ liệu cập nhật đến",
        "Kiểm tra trực tiếp")
COMPARE_HEAD = (
    '<tr><th rowspan="2">Cơ quan</th><th colspan="2">Hạng</th><th colspan="3">Tỷ lệ đúng hạn (thay đổi: điểm %)</th>'
    '<th colspan="3">Điểm không phù hợp / 100 hồ sơ</th><th colspan="2">Mục tiêu không đạt</th>'
    '<th colspan="2">Tỷ lệ có quy trình ISO</th></tr>'
    "<tr><th>Kỳ này</th><th>Kỳ trước</th><th>Kỳ này</th><th>Kỳ trước</th><th>Thay đổi</th>"
    "<th>Kỳ này</th><th>Kỳ trước</th><th>Thay đổi</th><th>Kỳ này</th><th>Kỳ trước</th>"
    "<th>Kỳ này</th><th>Kỳ trước</th></tr>"
)
RANK_CSS = ("table.wide.rank th:first-child, table.wide.rank td:first-child { width: 6%; }\n"
            "table.wide.rank th:nth-child(2) { width: 18%; } table.wide.rank th:nth-child(9) { width: 12%; }\n")
KIND = {LEDGER: "Sổ cái dữ liệu của isobridge", EVIDENCE: "Tệp minh chứng (JSON Lines)"}
BASIS = {LEDGER: "đồng bộ", EVIDENCE: "sự kiện mới nhất trong tệp"}


@dataclass
class RollupResult:
    """What a roll-up wrote and decided."""

    html: Path
    csv: Path
    ranked: list[Standing]
    previous: list[Standing] | None
    inspection: Inspection


def decimal(value: float | None, digits: int = 1) -> str:
    """'12,5' (Vietnamese decimal comma; '—' for None)."""
    return "—" if value is None else f"{value:.{digits}f}".replace(".", ",")


def change(now: float | None, before: float | None, scale: float = 1.0) -> str:
    """'+1,5' style signed difference ('—' when either side is missing)."""
    if now is None or before is None:
        return "—"
    return f"{(now - before) * scale:+.1f}".replace(".", ",")


def _coverage(standing: Standing) -> str:
    if standing.coverage is None:
        return "Chưa xác định"
    known = standing.coverage.dossiers - standing.coverage.unknown
    return f"{percent(standing.coverage.rate)} ({number(standing.coverage.covered)}/{number(known)})"


def _fresh(freshness: Freshness | None) -> str:
    if freshness is None or freshness.instant is None:
        return "Không rõ"
    sources = f": {', '.join(freshness.sources)}" if freshness.sources else ""
    return f"{vn_short(freshness.instant)} ({BASIS[freshness.kind]}{sources})"


def _misses(standing: Standing) -> str:
    return f"{standing.misses} / {standing.objectives}"


def _ranking(ranked: list[Standing], total: Counts, plan: Inspection) -> list[str]:
    rows = [[str(s.rank), s.agency or "(không rõ)", number(s.counts.dossiers), number(s.counts.finished),
             percent(s.on_time_rate), _misses(s), decimal(s.nonconformities_per_100), _coverage(s),
             _fresh(s.freshness), plan.reason(s.agency)] for s in ranked]
    per_100 = total.nonconformities * 100 / total.dossiers if total.dossiers else None
    rows.append(["", "Toàn tỉnh", number(total.dossiers), number(total.finished), percent(total.on_time_rate),
                 "", decimal(per_100), "", "", ""])
    return ["<h2>I. Xếp hạng các cơ quan</h2>",
            table(list(HEAD), rows, numeric={0, 2, 3, 4, 6}, css_class="wide rank"),
            '<p>Quy tắc xếp hạng:</p><ul class="rules">' + "".join(f"<li>{esc(t)}</li>" for t in RANKING_RULE) + "</ul>",
            '<p>Cách tính:</p><ul class="rules">' + "".join(f"<li>{esc(t)}</li>" for t in MEASURES) + "</ul>"]


def _inspection(ranked: list[Standing], plan: Inspection) -> list[str]:
    places = {s.agency: s for s in ranked}
    listed = plan.weakest + plan.drawn
    rows = ([str(i), agency or "(không rõ)", str(places[agency].rank), percent(places[agency].on_time_rate),
             plan.reason(agency)] for i, agency in enumerate(listed, 1))
    return ["<h2>II. Đề xuất danh sách đơn vị kiểm tra trực tiếp</h2>",
            f"<p>{esc(plan.rule())}</p>",
            table(["STT", "Cơ quan", "Hạng", "Tỷ lệ đúng hạn", "Lý do chọn"], rows, numeric={0, 2, 3}),
            f'<p class="note">Hạt giống (seed) của lần rút thăm: <b>{plan.seed}</b> — chạy lại với '
            f"<code>--seed {plan.seed}</code> cho cùng danh sách.</p>"]


def _compare(ranked: list[Standing], previous: list[Standing], total: Counts, before: Counts,
             period: Period) -> list[str]:
    earlier = {s.agency: s for s in previous}
    rows = []
    for s in ranked:
        p = earlier.get(s.agency)
        rows.append([s.agency or "(không rõ)", str(s.rank), str(p.rank) if p else "—",
                     percent(s.on_time_rate), percent(p.on_time_rate) if p else "—",
                     change(s.on_time_rate, p.on_time_rate if p else None, 100),
                     decimal(s.nonconformities_per_100), decimal(p.nonconformities_per_100) if p else "—",
                     change(s.nonconformities_per_100, p.nonconformities_per_100 if p else None),
                     _misses(s), _misses(p) if p else "—", _coverage(s), _coverage(p) if p else "—"])
    rows.append(["Toàn tỉnh", "", "", percent(total.on_time_rate), percent(before.on_time_rate),
                 change(total.on_time_rate, before.on_time_rate, 100)] + [""] * 7)
    return ["<h2>III. So sánh với kỳ trước (phục vụ xem xét của lãnh đạo)</h2>",
            f"<p>{esc(period_text(period, 'Kỳ trước'))}. Thay đổi = kỳ này − kỳ trước; tỷ lệ đúng hạn tính bằng "
            "điểm phần trăm.</p>",
            table(COMPARE_HEAD, rows, numeric=set(range(1, 11)), css_class="wide")]


def _sources(rollup: Rollup) -> list[str]:
    rows = []
    for source in rollup.inputs:
        newest = input_freshness(source, rollup)
        each = "; ".join(f"{name}: {vn_short(later) if later else 'chưa đồng bộ'}"
                         for name, later in sorted(source.synced.items()))
        rows.append([source.name, KIND[source.kind], vn_short(newest) if newest else "Không rõ",
                     each if source.kind == LEDGER else BASIS[EVIDENCE]])
    return ["<h2>IV. Nguồn dữ liệu và thời điểm cập nhật</h2>",
            table(["Nguồn", "Loại", "Cập nhật gần nhất", "Từng nguồn đồng bộ / căn cứ"], rows)]


def period_text(period: Period, name: str = "Kỳ báo cáo") -> str:
    """'Kỳ báo cáo: từ ngày 01/07/2026 đến ngày 30/09/2026' (or open-ended)."""
    if period.start and period.end:
        return f"{name}: từ ngày {vn_date(period.start)} đến ngày {vn_date(period.end)}"
    if period.start or period.end:
        return f"{name}: {'từ' if period.start else 'đến'} ngày {vn_date(period.start or period.end)}"
    return f"{name}: toàn bộ dữ liệu"


def render_rollup(rollup: Rollup, ranked: list[Standing], plan: Inspection,
                  previous: list[Standing] | None = None) -> str:
    """The whole roll-up as an HTML document."""
    body = [
        '<div class="motto"><div><b></b></div>'
        "<div><b>CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM</b><b><u>Độc lập - Tự do - Hạnh phúc</u></b></div></div>",
        "<h1>Báo cáo tổng hợp kết quả giải quyết thủ tục hành chính và áp dụng hệ thống quản lý chất lượng</h1>",
        f'<p class="sub">Các cơ quan áp dụng TCVN ISO 9001:2015 (Quyết định 19/2014/QĐ-TTg) — phục vụ Ban Chỉ đạo '
        f"ISO tỉnh<br>{esc(period_text(rollup.periods[0]))}<br>Lập ngày {vn_date(vn_today())}</p>",
    ]
    body += _ranking(ranked, province(rollup, 0), plan)
    body.append('<p>Quy tắc đếm hồ sơ (như báo cáo mục tiêu chất lượng):</p><ul class="rules">'
                + "".join(f"<li>{esc(rule)}</li>" for rule in rules_used(rollup.rules)) + "</ul>")
    body += _inspection(ranked, plan)
    if previous is not None:
        body += _compare(ranked, previous, province(rollup, 0), province(rollup, 1), rollup.periods[1])
    body += _sources(rollup)
    if rollup.rejected:
        body.append(f'<h2>Bản ghi không sử dụng được</h2><p class="bad">{number(rollup.rejected)} bản ghi minh '
                    "chứng không đọc được và không được tính:</p><ul>"
                    + "".join(f"<li>{esc(rejection(r))}</li>" for r in rollup.rejections) + "</ul>")
    return page("Báo cáo tổng hợp các cơ quan", body, CSS + RANK_CSS)


def _figure(value: float | None, scale: float = 1.0) -> float | str:
    """A CSV number rounded to one decimal ('' when missing)."""
    return "" if value is None else round(value * scale, 1)


def _difference(now: float | None, before: float | None, scale: float = 1.0) -> float | str:
    return "" if now is None or before is None else round((now - before) * scale, 1)


def csv_row(standing: Standing, plan: Inspection, earlier: Standing | None, compared: bool) -> dict:
    """One agency's row of the CSV: Vietnamese column titles, numbers as numbers ('' when missing)."""
    coverage, unknown = standing.coverage, "Chưa xác định"
    row = {"Hạng": standing.rank, "Cơ quan": standing.agency, "Số hồ sơ": standing.counts.dossiers,
           "Đã giải quyết": standing.counts.finished, "Tỷ lệ đúng hạn (%)": _figure(standing.on_time_rate, 100),
           "Mục tiêu không đạt": standing.misses, "Số mục tiêu": standing.objectives,
           "Điểm không phù hợp": standing.counts.nonconformities,
           "Điểm không phù hợp / 100 hồ sơ": _figure(standing.nonconformities_per_100),
           "Hồ sơ có quy trình ISO": unknown if coverage is None else coverage.covered,
           "Hồ sơ tiếp nhận đã rõ thủ tục": unknown if coverage is None else coverage.dossiers - coverage.unknown,
           "Tỷ lệ hồ sơ có quy trình ISO (%)": unknown if coverage is None else _figure(coverage.rate, 100),
           "Dữ liệu cập nhật đến": _fresh(standing.freshness), "Kiểm tra trực tiếp": plan.reason(standing.agency)}
    if compared:
        p = earlier or Standing("", Counts(), 0, 0, None)
        row |= {"Hạng kỳ trước": earlier.rank if earlier else "",
                "Tỷ lệ đúng hạn kỳ trước (%)": _figure(p.on_time_rate, 100),
                "Thay đổi tỷ lệ đúng hạn (điểm %)": _difference(standing.on_time_rate, p.on_time_rate, 100),
                "Điểm không phù hợp / 100 hồ sơ kỳ trước": _figure(p.nonconformities_per_100),
                "Thay đổi điểm không phù hợp / 100 hồ sơ": _difference(standing.nonconformities_per_100,
                                                                      p.nonconformities_per_100),
                "Mục tiêu không đạt kỳ trước": earlier.misses if earlier else "",
                "Tỷ lệ hồ sơ có quy trình ISO kỳ trước (%)": (unknown if p.coverage is None and earlier else
                                                               _figure(p.coverage_rate, 100))}
    return row


def write_rollup(rollup: Rollup, out: str | Path, objectives: Objectives | None, seed: int,
                 weakest: int = 3, share: float = 0.2) -> RollupResult:
    """Rank, draw and write `out` (HTML) and its CSV beside it (`.tong-hop.csv`).

    A roll-up with two periods compares the first with the second (the previous period)."""
    objectives = objectives or Objectives.standard()
    ranked = standings(rollup, 0, objectives)
    previous = standings(rollup, 1, objectives) if len(rollup.periods) > 1 else None
    plan = inspection(ranked, seed, weakest, share)
    html = Path(out)
    html.parent.mkdir(parents=True, exist_ok=True)
    html.write_text(render_rollup(rollup, ranked, plan, previous), encoding="utf-8")
    sheet = html.with_suffix(".tong-hop.csv")
    earlier = {s.agency: s for s in previous or ()}
    rows = [csv_row(s, plan, earlier.get(s.agency), previous is not None) for s in ranked]
    with open(sheet, "w", encoding="utf-8-sig", newline="") as handle:
        columns = list(rows[0]) if rows else list(csv_row(Standing("", Counts(), 0, 0, None), plan, None,
                                                                   previous is not None))
        writer = csv.DictWriter(handle, columns, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(safe_row(row) for row in rows)
    return RollupResult(html, sheet, ranked, previous, plan)


