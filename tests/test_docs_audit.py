"""`isobridge audit-sample`: a reproducible, stratified internal-audit sample and its working paper."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import orjson
import pytest
from lxml import html

from isobridge.core import samples
from isobridge.core.cli import main
from isobridge.core.report.aggregate import Period
from isobridge.core.report.audit import collect, draw, is_flagged, sample_size, split
from isobridge.core.report.auditpaper import FINDING, SEEN, write_paper
from isobridge.core.report.names import ProcedureNames
from isobridge.core.report.pdf import browser, print_pdf

from evid_support import evidence

NAMES = ProcedureNames.from_dir(samples.PROCEDURES)
LATE_STEP = {"kind": "late_step", "step": "XM", "detail": "finished after due 2026-03-12T08:00:00+07:00"}


def dossier(code: str, procedure: str = "2.001023", flagged: bool = False, day: int = 10, **fields) -> dict:
    """One evidence record received on March `day`, 2026; flagged ones have a late step."""
    step = {"step": "XM", "from_unit": "Trung tâm Phục vụ hành chính công", "unit": "Phòng Lý lịch tư pháp",
            "started_at": f"2026-03-{day:02d}T08:00:00+07:00", "finished_at": f"2026-03-{day + 2:02d}T09:00:00+07:00",
            "due_at": f"2026-03-{day + 1:02d}T08:00:00+07:00", "allowed_minutes": 2880, "used_minutes": 2940,
            "time_basis": "calendar", "verdict": "late" if flagged else "early"}
    base = {"dossier": code, "procedure": procedure, "agency": "Sở Tư pháp thành phố Đà Nẵng", "channel": "direct",
            "received_at": f"2026-03-{day:02d}T08:00:00+07:00", "status": 10, "verdict": "on_time",
            "due_at": f"2026-03-{day + 8:02d}T08:00:00+07:00", "finished_at": f"2026-03-{day + 5:02d}T08:00:00+07:00",
            "steps": [step], "nonconformities": [LATE_STEP] if flagged else [], "schema_version": 2}
    return base | fields


def group(procedure: str, count: int, flagged: int) -> list[dict]:
    """`count` dossiers of a procedure, the first `flagged` of them with a late step."""
    return [dossier(f"{procedure}-{n:05d}", procedure, n < flagged) for n in range(count)]


def drawn(plan) -> dict[str, tuple[list[str], list[str]]]:
    return {procedure: g.drawn() for (_, procedure), g in plan.groups.items()}


def test_the_same_seed_gives_the_same_sample_whatever_the_order() -> None:
    records = group("2.001023", 300, 40) + group("1.001612", 60, 5)
    first = draw(records, 7)
    again = draw(list(reversed(records)), 7)
    assert drawn(first) == drawn(again)
    other = draw(records, 8)
    assert drawn(other) != drawn(first)  # another seed, another sample (13 of 300: equal by chance ~never)


def test_the_size_rule_per_procedure() -> None:
    sizes = {1: 1, 5: 5, 6: 5, 25: 5, 26: 8, 100: 8, 101: 13, 500: 13, 501: 20, 2000: 20, 2001: 32, 10**6: 32}
    assert {count: sample_size(count) for count in sizes} == sizes
    records = group("A", 3, 1) + group("B", 20, 2) + group("C", 60, 6) + group("D", 300, 30)
    plan = draw(records, 11)
    got = {procedure: len(f) + len(o) for procedure, (f, o) in drawn(plan).items()}
    assert got == {"A": 3, "B": 5, "C": 8, "D": 13}
    assert {p: g.count for (_, p), g in plan.groups.items()} == {"A": 3, "B": 20, "C": 60, "D": 300}


def test_flagged_dossiers_are_over_represented_and_conforming_ones_are_present() -> None:
    assert split(8, 10, 90) == (6, 2)  # ⌈8·2/3⌉ = 6 flagged, the rest conforming
    assert split(5, 1, 99) == (1, 4)  # all the flagged there are
    assert split(5, 50, 1) == (4, 1)  # at least one conforming dossier when there is one
    assert split(13, 0, 300) == (0, 13)
    records = group("2.001023", 100, 10)
    flagged, others = draw(records, 5).groups[("Sở Tư pháp thành phố Đà Nẵng", "2.001023")].drawn()
    assert len(flagged) == 6 and len(others) == 2
    share_in_sample, share_in_period = len(flagged) / 8, 10 / 100
    assert share_in_sample > share_in_period
    by_code = {r["dossier"]: r for r in records}
    assert all(is_flagged(by_code[c]) for c in flagged) and not any(is_flagged(by_code[c]) for c in others)


def test_the_draw_is_uniform_within_a_stratum() -> None:
    records = group("2.001023", 100, 0)
    hits: dict[str, int] = {}
    for seed in range(400):
        for code in draw(records, seed).dossiers():
            hits[code] = hits.get(code, 0) + 1
    assert len(hits) == 100  # every dossier can be drawn
    assert max(hits.values()) < 3 * 400 * 8 / 100  # expected 32 each; none near-always drawn


def test_the_period_is_on_the_reception_date_and_the_agency_filters() -> None:
    records = [dossier("IN-1", day=10), dossier("IN-2", day=20), dossier("OUT-1", day=5),
               dossier("OTHER-1", day=12, agency="UBND xã Hòa Vang")]
    plan = draw(records, 1, Period("2026-03-08", "2026-03-21"), "Sở Tư pháp thành phố Đà Nẵng")
    assert plan.dossiers() == {"IN-1", "IN-2"}


def test_unusable_evidence_is_counted_and_named() -> None:
    bad_step = dossier("BAD-2", flagged=True)
    bad_step["steps"][0]["used_minutes"] = "many"
    plan = draw([("f.jsonl:1", {"dossier": "X"}), ("f.jsonl:2", dossier("OK-1")), ("f.jsonl:3", [1]),
                 ("f.jsonl:4", dossier("BAD-1", steps=["TN"])), ("f.jsonl:5", bad_step),
                 ("f.jsonl:6", dossier("BAD-3", procedure=2001023))], 1)
    assert plan.rejected == 5 and plan.dossiers() == {"OK-1"}
    assert plan.rejections[0].startswith("f.jsonl:1: procedure: missing")
    assert plan.rejections[2:] == ["f.jsonl:4: steps: expected objects",
                                   "f.jsonl:5: steps: minutes of step 'XM' are not numbers",
                                   "f.jsonl:6: procedure: expected text"]


@pytest.mark.parametrize("argv, message", [
    (["--evidence", "-"], "reads the evidence twice"),
    (["--evidence", "x.jsonl", "--seed", "-3"], "is not a whole number"),
    (["--evidence", "x.jsonl", "--from", "2026-03-10", "--to", "2026-03-01"], "is after --to"),
])
def test_cli_refuses_what_it_cannot_do(argv: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    try:
        status = main(["audit-sample", *argv])
    except SystemExit as exc:  # argparse: usage error
        status = exc.code
    assert status in (1, 2) and message in capsys.readouterr().err


def paper(tmp_path: Path, records: list[dict], seed: int = 4242) -> tuple[Path, list[dict]]:
    plan = draw(records, seed)
    page, sheet, count = write_paper(plan, collect(records, plan.dossiers()), tmp_path / "audit.html", NAMES)
    with open(sheet, encoding="utf-8-sig", newline="") as handle:
        return page, list(csv.DictReader(handle))


def test_the_csv_has_blank_auditor_columns_and_no_formula(tmp_path: Path) -> None:
    hostile = dossier("=HYPERLINK(\"http://x\")", flagged=True, agency="+cmd|' /C calc'!A0")
    _, rows = paper(tmp_path, [hostile] + group("2.001023", 10, 0))
    assert rows and all(row[FINDING] == "" and row[SEEN] == "" for row in rows)
    mine = [row for row in rows if row["Mã hồ sơ"].startswith("'=")]
    assert mine and all(row["Cơ quan"] == "'+cmd|' /C calc'!A0" for row in mine)
    kinds = [row["Dòng"] for row in mine]
    assert kinds == ["Hồ sơ", "Bước 1", "Điểm không phù hợp 1"]
    step = mine[1]
    assert step["Thời gian đã dùng/cho phép"] == "2,0/2,0 ngày"  # calendar minutes in days (time_basis)
    assert step["Bước"] == "Tra cứu, xác minh thông tin lý lịch (XM)" and step["Kết quả"] == "Quá hạn"
    assert step["Bắt đầu"] == "10/03/2026 08 giờ 00" and step["Hạn"] == "11/03/2026 08 giờ 00"
    assert mine[2]["Điểm không phù hợp"].startswith("Bước xử lý quá hạn: Bước Tra cứu")
    for cell in (value for row in rows for value in row.values()):
        assert not cell.startswith(("=", "+", "-", "@"))


def test_the_html_prints_the_seed_the_rule_and_the_counts(tmp_path: Path) -> None:
    page, rows = paper(tmp_path, group("2.001023", 40, 4), seed=918273)
    tree = html.fromstring(page.read_bytes())
    text = tree.text_content()
    assert "Số khởi tạo chọn mẫu (seed): 918273" in text and "--seed 918273" in text
    counts = tree.xpath("//h2[contains(., 'Số hồ sơ và cỡ mẫu')]/following-sibling::table[1]//tbody/tr/td")
    assert [c.text_content() for c in counts][1:] == ["2.001023", "Cấp Phiếu lý lịch tư pháp cho công dân Việt Nam",
                                                      "40", "4", "8", "4", "4"]
    assert len(tree.xpath("//h3")) == 8 == len({row["Mã hồ sơ"] for row in rows})
    assert text.count(FINDING) >= 8


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def test_cli_prints_a_drawn_seed_and_redraws_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    source = write_jsonl(tmp_path / "evidence.jsonl", evidence(300))
    assert main(["audit-sample", "--evidence", str(source), "--out", str(tmp_path / "a.html")]) == 0
    seed = re.search(r"seed (\d+)", capsys.readouterr().err).group(1)
    assert main(["audit-sample", "--evidence", str(source), "--seed", seed, "--out", str(tmp_path / "b.html")]) == 0
    first = (tmp_path / "a.phieu-ghi-chep.csv").read_bytes()
    assert first == (tmp_path / "b.phieu-ghi-chep.csv").read_bytes() and len(first.splitlines()) > 20
    assert f"seed {seed}" in capsys.readouterr().err


def test_cli_takes_the_latest_revision_and_reports_bad_lines(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    old = dossier("HS-1", flagged=True)
    source = tmp_path / "evidence.jsonl"
    source.write_bytes(orjson.dumps(old) + b"\nnot json\n" + orjson.dumps(old | {"nonconformities": [], "steps": []})
                       + b"\n")
    assert main(["audit-sample", "--evidence", str(source), "--seed", "1", "--out", str(tmp_path / "a.html")]) == 3
    assert "evidence.jsonl:2: invalid JSON" in capsys.readouterr().err
    rows = list(csv.DictReader(open(tmp_path / "a.phieu-ghi-chep.csv", encoding="utf-8-sig")))
    assert [row["Dòng"] for row in rows] == ["Hồ sơ"]  # the latest revision: no steps, nothing flagged
    assert rows[0]["Nhóm mẫu"] == "Không có điểm không phù hợp"


def test_cli_ledger_and_evidence_file_draw_the_same_sample(tmp_path: Path) -> None:
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    demo = tmp_path / "demo"
    assert "--seed 2025" in (demo / "audit-sample.html").read_text(encoding="utf-8")  # the demo writes one too
    common = ["--seed", "31", "--from", "2025-07-01", "--to", "2025-12-31"]
    assert main(["audit-sample", "--config", str(demo / "isobridge.toml"), *common,
                 "--out", str(tmp_path / "ledger.html")]) == 0
    assert main(["audit-sample", "--evidence", str(demo / "evidence.jsonl"), *common,
                 "--out", str(tmp_path / "file.html")]) == 0
    ledger = (tmp_path / "ledger.phieu-ghi-chep.csv").read_bytes()
    assert ledger == (tmp_path / "file.phieu-ghi-chep.csv").read_bytes() and ledger.count(b"\r\n") > 30


@pytest.mark.skipif(browser() is None, reason="Chromium is not installed (apt-get install -y chromium)")
def test_the_working_paper_prints_on_a4_landscape_in_chromium(tmp_path: Path) -> None:
    from test_docs_sheet import pdf_pages
    from test_evid_browser import chromium, console_messages

    page, _ = paper(tmp_path, group("2.001023", 40, 6) + group("1.001612", 12, 1), seed=5150)
    dom = chromium(tmp_path, "--dump-dom", page.resolve().as_uri())
    assert console_messages(dom.stderr) == [] and "Số khởi tạo chọn mẫu (seed): <b>5150</b>" in dom.stdout
    pages = pdf_pages(print_pdf(page, tmp_path / "audit.pdf"))
    assert len(pages) >= 2 and all(abs(w - 841.9) < 2 and abs(h - 595.3) < 2 for w, h in pages)  # A4 landscape
