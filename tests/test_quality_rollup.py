"""`isobridge report --rollup`: hand-computed ranking, coverage, freshness, the inspection draw, the comparison."""

from __future__ import annotations

import csv
import random

import pytest

from isobridge.core import samples
from isobridge.core.models import IndicatorSummary as Counts
from isobridge.core.procedures import ProcedureBook
from isobridge.core.report.aggregate import Period
from isobridge.core.report.objectives import Objective, Objectives
from isobridge.core.report.rollup import (EVIDENCE, LEDGER, Coverage, Freshness, Rollup, SourceInput,
                                          agency_coverage_rates)
from isobridge.core.report.rollup_page import write_rollup
from isobridge.core.report.rollup_rank import (Standing, inspection, previous_period, ranking_key,
                                               standings)

BOOK = ProcedureBook.from_dir(samples.PROCEDURES)
FILE = SourceInput("tinh.jsonl", EVIDENCE)


def dossier(code: str, agency: str, verdict: str, day: str = "2026-08-03", ncs: int = 0,
            steps: list | None = None) -> dict:
    """A small evidence record received on `day`, finished two days later when finished."""
    finished = verdict in ("early", "on_time", "late")
    return {"dossier": code, "procedure": "1.010736", "agency": agency, "channel": "direct",
            "received_at": f"{day}T08:00:00+07:00", "due_at": f"{day[:8]}20T17:00:00+07:00",
            "finished_at": f"{day[:8]}{int(day[8:]) + 2:02d}T09:00:00+07:00" if finished else None,
            "verdict": verdict, "steps": steps or [], "status": 10 if finished else 4,
            "nonconformities": [{"kind": "late_step", "step": "TD", "detail": "x"}] * ncs}


def province_records() -> list[dict]:
    """A: 3 on time + 1 late, 1 nonconformity; B: 4 on time, 2; C: 1 early + 1 late; D: 3 on time + 1 late,
    none; E: two open dossiers only."""
    plan = {"A": ["on_time"] * 3 + ["late"], "B": ["on_time"] * 4, "C": ["early", "late"],
            "D": ["on_time"] * 3 + ["late"], "E": ["open_on_time", "open_on_time"]}
    found = {"A": 1, "B": 2}
    records = []
    for agency, verdicts in plan.items():
        for i, verdict in enumerate(verdicts):
            records.append(dossier(f"{agency}-{i}", agency, verdict, ncs=found.get(agency, 0) if i == 0 else 0))
    return records


def rolled(records: list[dict], periods=(Period("2026-07-01", "2026-09-30"),)) -> Rollup:
    rollup = Rollup(list(periods))
    rollup.inputs.append(FILE)
    for record in records:
        rollup.add(record, FILE)
    return rollup


def test_ranking_by_on_time_rate_then_objective_misses_then_nonconformities():
    rollup = rolled(province_records())
    ranked = standings(rollup, 0, Objectives.standard())
    # B 100 %; A and D 75 % with one miss each: D has no nonconformity (0 / 100) against A's 1 in 4 (25 / 100);
    # C 50 %; E finished nothing, so it is last.
    assert [(s.agency, s.rank) for s in ranked] == [("B", 1), ("D", 2), ("A", 3), ("C", 4), ("E", 5)]
    by_name = {s.agency: s for s in ranked}
    assert by_name["A"].on_time_rate == 0.75 and by_name["A"].nonconformities_per_100 == 25.0
    assert by_name["B"].nonconformities_per_100 == 50.0 and by_name["B"].misses == 0
    assert by_name["E"].on_time_rate is None and by_name["E"].misses == 0  # nothing to measure is no miss
    # A's own objective (≥ 70 %) is met: with fewer misses it passes D despite its nonconformity.
    own = Objectives([Objective("on_time_rate", ">=", 0.98)], {"A": [Objective("on_time_rate", ">=", 0.7)]})
    assert [s.agency for s in standings(rollup, 0, own)] == ["B", "A", "D", "C", "E"]


def test_coverage_breaks_a_tie_and_unknown_coverage_comes_after_known():
    counts = Counts(on_time=3, late=1, dossiers=4)
    low, high = Coverage(10, 8), Coverage(10, 9)
    tied = [Standing("X", counts, 1, 1, low), Standing("Y", counts, 1, 1, None), Standing("Z", counts, 1, 1, high)]
    assert [s.agency for s in sorted(tied, key=ranking_key)] == ["Z", "X", "Y"]


def record(code: str, agency: str, procedure: str | None, received: str | None) -> tuple:
    body = {"dossier": code, "agency": agency, "procedure": procedure, "received_at": received}
    return code, "failed", {k: v for k, v in body.items() if v is not None}, None


def test_coverage_is_counted_per_agency_and_period_by_the_local_reception_day():
    records = [
        record("1", "A", "1.001612", "2026-08-01T09:00:00+07:00"),   # a version in force: covered
        record("2", "A", "9.999999", "2026-08-02T09:00:00+07:00"),   # no ISO procedure at all
        record("3", "A", "1.001612", "2020-06-01T09:00:00+07:00"),   # before the first version (2021): out of both
        record("4", "A", None, "2026-08-03T09:00:00+07:00"),          # procedure not known yet
        record("5", "A", "2.001023", None),                           # no reception: in no period
        record("6", "B", "1.010736", "2026-06-30T17:30:00+00:00"),   # 01/07 00:30 local: third quarter
        record("7", "B", "1.010736", "2026-06-30T16:30:00+00:00"),   # 30/06 23:30 local: second quarter
        record("8", "B", "1.001612", "2021-01-01T00:00:00+07:00"),   # the first version's first day
    ]
    third, second, everything = agency_coverage_rates(
        iter(records), BOOK, [Period("2026-07-01", "2026-09-30"), Period("2026-04-01", "2026-06-30"), Period()])
    assert third == {"A": Coverage(3, 1, 1), "B": Coverage(1, 1, 0)}
    assert third["A"].rate == 0.5 and second == {"B": Coverage(1, 1, 0)}
    assert everything["A"] == Coverage(4, 1, 1) and everything["A"].rate == 1 / 3
    assert everything["B"] == Coverage(3, 3, 0)


def test_coverage_of_an_evidence_file_is_unknown_never_zero_or_full():
    rollup = rolled(province_records())
    assert {s.coverage for s in standings(rollup, 0, Objectives.standard())} == {None}


def test_freshness_is_the_stalest_source_of_the_agency_and_says_its_basis():
    ledger = SourceInput("ledger.db", LEDGER, {"portal": "2026-12-01T01:00:00+00:00",
                                               "office": "2026-11-30T10:00:00+00:00", "idle": None})
    rollup = Rollup([Period()])
    rollup.inputs.append(ledger)
    rows = [("X-1", "evaluated", {"agency": "X", "events": [{"source": "portal"}]}, dossier("X-1", "X", "on_time")),
            ("Y-1", "evaluated", {"agency": "Y", "events": [{"source": "portal"}, {"source": "office"}]},
             dossier("Y-1", "Y", "late")),
            ("Z-1", "evaluated", {"agency": "Z", "events": [{"source": "idle"}]}, dossier("Z-1", "Z", "late"))]
    assert list(rollup.feed_records(iter(rows), ledger)) == rows  # passed on for the coverage
    assert rollup.freshness("X") == Freshness("2026-12-01T08:00:00+07:00", LEDGER, ("portal",))
    assert rollup.freshness("Y") == Freshness("2026-11-30T17:00:00+07:00", LEDGER, ("office", "portal"))
    assert rollup.freshness("Z").instant is None  # a source never synced: unknown, not guessed


def test_freshness_of_an_evidence_file_is_its_newest_recorded_instant():
    steps = [{"step": "TN", "started_at": "2026-08-03T08:00:00+07:00", "finished_at": "2026-08-07T01:00:00+00:00"}]
    rollup = rolled([dossier("A-1", "A", "on_time", steps=steps), dossier("A-2", "A", "open_on_time", day="2026-08-04"),
                     dossier("B-1", "B", "on_time", day="2026-07-01")])
    assert rollup.freshness("A") == Freshness("2026-08-07T08:00:00+07:00", EVIDENCE, ())
    assert rollup.freshness("B").instant == "2026-07-03T09:00:00+07:00"


def test_last_syncs_take_the_later_of_checkpoint_and_finished_run(tmp_path):
    from isobridge.core.cli.rollup import last_syncs
    from isobridge.core.ledger import Ledger
    from isobridge.core.runs import RunReport

    ledger = Ledger(tmp_path / "l.db")
    try:
        with ledger.transaction() as db:
            db.execute("INSERT INTO checkpoints VALUES ('portal', 'c', '2026-11-01T00:00:00+00:00')")
            db.execute("INSERT INTO checkpoints VALUES ('office', 'c', '2026-11-02T00:00:00+00:00')")
        run, _ = ledger.start_run(["portal"])
        ledger.finish_run(run, RunReport("ok"))
        failed, _ = ledger.start_run(["office"])
        ledger.finish_run(failed, RunReport("failed", error="down"))
        synced = last_syncs(ledger, None)
    finally:
        ledger.close()
    assert synced["office"] == "2026-11-02T07:00:00+07:00"  # its failed run does not count
    assert synced["portal"] > "2026-12-01"  # the run that just finished, later than the checkpoint


def ranked(count: int) -> list[Standing]:
    found = [Standing(f"Cơ quan {i:02d}", Counts(on_time=100 - i, late=i), 0, 1, None) for i in range(count)]
    for place, standing in enumerate(sorted(found, key=ranking_key), 1):
        standing.rank = place
    return sorted(found, key=ranking_key)


def test_the_inspection_draw_is_reproducible_and_always_has_the_weakest():
    agencies = ranked(10)
    first = inspection(agencies, seed=20261204)
    assert first.weakest == ["Cơ quan 09", "Cơ quan 08", "Cơ quan 07"]
    assert first.others == 7 and len(first.drawn) == 2  # 20 % of 7, rounded up
    assert not set(first.drawn) & set(first.weakest)
    assert inspection(agencies, seed=20261204) == first
    shuffled = agencies[:7]
    random.Random(1).shuffle(shuffled)
    assert set(inspection(shuffled + agencies[7:], seed=20261204).drawn) == set(first.drawn)  # order-free
    draws = {tuple(inspection(agencies, seed=seed).drawn) for seed in range(40)}
    assert len(draws) > 5  # the seed matters
    assert all(inspection(agencies, seed=seed).weakest == first.weakest for seed in range(40))


def test_the_inspection_share_and_weakest_bounds():
    agencies = ranked(4)
    assert inspection(agencies, 1, weakest=0, share=1.0).drawn == [s.agency for s in agencies]
    assert inspection(agencies, 1, weakest=9, share=0.5).weakest == [s.agency for s in agencies][::-1]
    assert inspection(agencies, 1, weakest=1, share=0.0).drawn == []
    with pytest.raises(ValueError):
        inspection(agencies, 1, weakest=1, share=1.5)


@pytest.mark.parametrize(("start", "end", "before"), [
    ("2026-07-01", "2026-09-30", ("2026-04-01", "2026-06-30")),   # a quarter
    ("2026-01-01", "2026-03-31", ("2025-10-01", "2025-12-31")),   # the first quarter: back over the year
    ("2026-01-01", "2026-12-31", ("2025-01-01", "2025-12-31")),   # a year
    ("2026-03-01", "2026-03-31", ("2026-02-01", "2026-02-28")),   # a month, into February
    ("2026-03-10", "2026-03-19", ("2026-02-28", "2026-03-09")),   # ten days: the ten before
])
def test_the_previous_period(start, end, before):
    assert previous_period(Period(start, end)) == Period(*before)


def test_the_previous_period_needs_both_bounds():
    with pytest.raises(ValueError, match="--from and --to"):
        previous_period(Period("2026-07-01", None))


def test_the_comparison_with_the_previous_quarter(tmp_path):
    records = province_records()
    # The second quarter: A 1 on time + 1 late (50 %), B 1 late (0 %), D 2 on time (100 %), with 2 nonconformities.
    records += [dossier("A-q2-0", "A", "on_time", "2026-05-04"), dossier("A-q2-1", "A", "late", "2026-05-05"),
                dossier("B-q2-0", "B", "late", "2026-05-04"), dossier("D-q2-0", "D", "on_time", "2026-05-04", ncs=2),
                dossier("D-q2-1", "D", "on_time", "2026-05-06")]
    quarter = Period("2026-07-01", "2026-09-30")
    rollup = rolled(records, (quarter, previous_period(quarter)))
    result = write_rollup(rollup, tmp_path / "tong-hop.html", None, seed=7, weakest=1)
    assert [(s.agency, s.rank) for s in result.previous] == [("D", 1), ("A", 2), ("B", 3), ("C", 4), ("E", 5)]
    rows = {row["Cơ quan"]: row for row in csv.DictReader(result.csv.open(encoding="utf-8-sig"))}
    assert rows["B"]["Tỷ lệ đúng hạn kỳ trước (%)"] == "0.0" and rows["B"]["Thay đổi tỷ lệ đúng hạn (điểm %)"] == "100.0"
    assert rows["A"]["Thay đổi tỷ lệ đúng hạn (điểm %)"] == "25.0" and rows["A"]["Hạng kỳ trước"] == "2"
    assert rows["D"]["Điểm không phù hợp / 100 hồ sơ kỳ trước"] == "100.0"
    assert rows["D"]["Thay đổi điểm không phù hợp / 100 hồ sơ"] == "-100.0"
    assert rows["C"]["Hạng kỳ trước"] == "4" and rows["C"]["Tỷ lệ đúng hạn kỳ trước (%)"] == ""
    assert rows["E"]["Kiểm tra trực tiếp"] == "Xếp cuối bảng (nhóm yếu nhất)"
    page = result.html.read_text(encoding="utf-8")
    assert "Kỳ trước: từ ngày 01/04/2026 đến ngày 30/06/2026" in page and "+25,0" in page
    assert "Hạt giống (seed) của lần rút thăm: <b>7</b>" in page


def test_bad_records_are_counted_and_named(tmp_path):
    rollup = rolled(province_records() + [{"dossier": "HS-X", "verdict": "late"}, "not an object"])
    assert rollup.rejected == 2
    page = write_rollup(rollup, tmp_path / "r.html", None, seed=1).html.read_text(encoding="utf-8")
    assert "hồ sơ HS-X: thiếu mã thủ tục" in page and "bản ghi không phải đối tượng JSON" in page
