"""The report: one unit per number, the Decision 766 counting rules, Vietnamese throughout."""

from __future__ import annotations

import re

import pytest
from lxml import html

from isobridge.core import samples
from isobridge.core.report.agencies import CountingRules
from isobridge.core.report.aggregate import Period, aggregate, outcome
from isobridge.core.report.build import write_report
from isobridge.core.report.names import ProcedureNames
from isobridge.core.report.quality import _times, render_report
from isobridge.core.report.sheet import render_sheet
from isobridge.core.report.timefmt import vn_short
from isobridge.core.report.wording import nonconformity_detail

from evid_support import evidence

NAMES = ProcedureNames.from_dir(samples.PROCEDURES)
MARCH = Period("2026-03-01", "2026-03-31")


def dossier(**fields) -> dict:
    base = {"dossier": "HS-1", "procedure": "2.001023", "agency": "Sở Tư pháp thành phố Đà Nẵng",
            "channel": "direct", "received_at": "2026-03-10T08:00:00+07:00", "status": 10, "verdict": "on_time",
            "due_at": "2026-03-20T08:00:00+07:00", "finished_at": "2026-03-20T09:00:00+07:00",
            "steps": [], "nonconformities": [], "schema_version": 2}
    return base | fields


def row(step: str, basis: str, used: int, allowed: int, unit: str = "Phòng Lý lịch tư pháp") -> dict:
    return {"step": step, "unit": unit, "started_at": "2026-03-10T08:00:00+07:00",
            "finished_at": "2026-03-12T08:00:00+07:00", "due_at": "2026-03-16T08:00:00+07:00",
            "allowed_minutes": allowed, "used_minutes": used, "time_basis": basis, "verdict": "early"}


def test_lateness_keeps_working_hours_and_calendar_days_apart():
    record = dossier(steps=[row("XM", "calendar", 2 * 1440, 6 * 1440), row("KY", "working", 120, 480)])
    data = aggregate([record])
    shown = _times(data.by_unit["Phòng Lý lịch tư pháp"])
    assert shown == "2,0 / 8,0 giờ làm việc; 2,0 / 6,0 ngày"  # never (2 880 + 120) / (8 640 + 480) minutes


def test_lateness_of_version_1_rows_shows_only_working_time_used():
    old = dossier(steps=[row("XM", "calendar", 900, 6 * 1440)])
    old.pop("schema_version")
    old["steps"][0].pop("time_basis")
    shown = _times(aggregate([old]).by_unit["Phòng Lý lịch tư pháp"])
    assert shown.startswith("15,0 giờ làm việc đã dùng (minh chứng phiên bản 1")


WITHDRAWN = dossier(verdict="withdrawn", status=7, finished_at=None, due_at="2026-03-12T08:00:00+07:00",
                    steps=[row("TN", "working", 60, 240) | {"finished_at": "2026-03-16T10:00:00+07:00"}])


@pytest.mark.parametrize("rules, expected", [
    (CountingRules(), ("on_time", True)),                        # the portal: processed, on time
    (CountingRules(withdrawn="by_date"), ("late", True)),        # withdrawn on 16/03, due 12/03
    (CountingRules(withdrawn="excluded"), ("withdrawn", True)),  # outside the rate
])
def test_withdrawn_dossiers_follow_the_rule(rules, expected):
    assert outcome(WITHDRAWN, MARCH, rules) == expected


def test_withdrawn_counts_in_the_on_time_rate_by_default():
    late = dossier(dossier="HS-2", verdict="late", finished_at="2026-03-25T08:00:00+07:00")
    assert aggregate([WITHDRAWN, late], MARCH).total.on_time_rate == 0.5
    assert aggregate([WITHDRAWN, late], MARCH, rules=CountingRules(withdrawn="excluded")).total.on_time_rate == 0.0


def test_refused_and_granularity_rules():
    refused = dossier(verdict="refused", status=3, finished_at=None)
    assert outcome(refused, MARCH) is None
    assert outcome(refused, MARCH, CountingRules(refused="listed")) == ("refused", True)
    same_day_late = dossier(finished_at="2026-03-20T16:00:00+07:00")  # due 08:00 the same day
    assert outcome(same_day_late, MARCH) == ("on_time", True)
    assert outcome(same_day_late, MARCH, CountingRules(granularity="minute")) == ("late", True)


def test_report_prints_the_rules_it_used():
    page = render_report(aggregate([dossier()], MARCH))
    assert "tính là đã giải quyết đúng hạn, vào ngày rút (như Cổng Dịch vụ công quốc gia)" in page
    assert "Hồ sơ không được tiếp nhận (trạng thái 3): không tính" in page and "so theo ngày" in page
    page = render_report(aggregate([dossier()], MARCH, rules=CountingRules(withdrawn="excluded", granularity="minute")))
    assert "không tính vào số đã giải quyết và tỷ lệ đúng hạn" in page and "so theo thời điểm" in page


def test_due_date_mismatch_in_vietnamese():
    nc = {"kind": "due_date_mismatch", "step": None,
          "detail": "appointment 2025-10-24T17:00:00+07:00 differs from computed due 2025-10-23T10:00:00+07:00"}
    assert nonconformity_detail(nc, dossier()) == (
        "Ngày hẹn trả kết quả 17 giờ 00 phút, ngày 24/10/2025 khác thời hạn tính theo quy định "
        "10 giờ 00 phút, ngày 23/10/2025")


# -- no English word in the Vietnamese documents -------------------------------------------------
ENGLISH = set("""
a after against allowed an and apologies apology appointment at be before by calendar channel computed
day days detail differs direct dossier due early entered finished for from hours is issued it kind late
least ledger may minutes missing moved never none not null of on once one online only open outcome post
procedure rate received refused report step still stopped than the time total true false unknown used
verdict was with withdrawn without working
""".split()) - {"may", "an", "a"}  # "may", "an" are Vietnamese words too
"""A small dictionary of English words the documents used to print (engine details, codes, labels)."""
ISO_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}(T|\s\d)")


def visible_text(page: str) -> str:
    tree = html.fromstring(page)
    for hidden in tree.xpath("//style|//title|//head"):
        hidden.drop_tree()
    return " ".join(tree.itertext())


def english_words(text: str) -> set[str]:
    return {word for word in re.findall(r"[^\W\d_]+", text.lower()) if word in ENGLISH}


def every_kind(record: dict) -> dict:
    """The record with one nonconformity of every kind, as the engine writes them."""
    step = record["steps"][1]
    due = step["due_at"]
    return record | {"nonconformities": [
        {"kind": "late_step", "step": step["step"], "detail": f"finished after its due {due}"},
        {"kind": "late_dossier", "step": None, "detail": f"late against due {record['due_at']}"},
        {"kind": "late_without_timely_apology", "step": None,
         "detail": "no apology issued at least one working day before the due"},
        {"kind": "reschedule_limit_exceeded", "step": None,
         "detail": "2 apologies; the appointment may be moved only once"},
        {"kind": "missing_step", "step": "TD", "detail": "step 'TD' (Thẩm định) never entered"},
        {"kind": "out_of_order", "step": "TD", "detail": "entered after 'PD' without sent_back"},
        {"kind": "unknown_step", "step": "ZZ", "detail": "step 'ZZ' is not in procedure 1.001612"},
        {"kind": "due_date_mismatch", "step": None,
         "detail": f"appointment {record['due_at']} differs from computed due {record['received_at']}"},
    ]}


def test_no_english_word_in_the_report_its_csv_lists_and_the_sheet(tmp_path):
    records = evidence(300)
    index = next(i for i, e in enumerate(records) if e["finished_at"] and len(e["steps"]) >= 3)
    records[index] = every_kind(records[index])
    unusable = [{"dossier": "HS-X", "verdict": "late"}, {"dossier": "HS-Y", "procedure": "1.001612",
                 "received_at": "2026-03-10T08:00:00+07:00", "verdict": "bogus", "steps": {}, "nonconformities": []}]
    _, files = write_report(iter(records + unusable), tmp_path / "bao-cao.html", names=NAMES, limit=400)
    sheet = render_sheet(records[index], "06", NAMES)
    texts = {"report": visible_text(files.html.read_text(encoding="utf-8")), "sheet": visible_text(sheet),
             "ledger csv": files.ledger_csv.read_text(encoding="utf-8-sig"),
             "nonconformity csv": files.nonconformities_csv.read_text(encoding="utf-8-sig")}
    for name, text in texts.items():
        assert english_words(text) == set(), name
        assert ISO_INSTANT.search(text) is None, (name, ISO_INSTANT.search(text))
    assert "Mô tả" in texts["nonconformity csv"] and "giờ" in texts["ledger csv"]
    assert "hồ sơ HS-X: thiếu mã thủ tục; thiếu ngày nhận" in texts["report"]
    assert "hồ sơ HS-Y: kết quả 'bogus' không hợp lệ; các bước phải là danh sách" in texts["report"]


def test_dates_read_day_month_year_and_hours_in_words_whatever_the_offset():
    assert vn_short("2025-07-02T09:31:00+07:00") == vn_short("2025-07-02T02:31:00Z") == "02/07/2025 09 giờ 31"
