"""`isobridge explain DOSSIER`: why a dossier is late, from the ledger or an evidence file."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from isobridge.core import samples
from isobridge.core.calendar import WorkingCalendar
from isobridge.core.cli import main
from isobridge.core.engine import Evaluator
from isobridge.core.procedures import ProcedureBook
from isobridge.core.report.explain import Explainer

AS_OF = "2026-11-01T00:00:00+07:00"
# Procedure 1.001612 version 2 (3 working days; TD 1.5 working days); 1-2 Sep 2025 are holidays.
LATE = {
    "dossier": "EXPLAIN-LATE-1", "procedure": "1.001612", "agency": "UBND xã Hòa Vang", "channel": "direct",
    "received_at": "2025-09-03T16:10:00+07:00", "status": 10, "events": [
        {"at": "2025-09-03T16:10:00+07:00", "kind": "received", "step": "TN", "unit": "Bộ phận Một cửa",
         "actor": "Nguyễn Văn An"},
        {"at": "2025-09-04T08:05:00+07:00", "kind": "handover", "step": "TD", "from_unit": "Bộ phận Một cửa",
         "unit": "Phòng Kinh tế"},
        {"at": "2025-09-09T10:30:00+07:00", "kind": "handover", "step": "PD", "from_unit": "Phòng Kinh tế",
         "unit": "Lãnh đạo UBND xã"},
        {"at": "2025-09-09T15:00:00+07:00", "kind": "resolved"},
        {"at": "2025-09-09T15:01:00+07:00", "kind": "handover", "step": "TKQ", "from_unit": "Lãnh đạo UBND xã",
         "unit": "Bộ phận Một cửa"},
        {"at": "2025-09-10T08:00:00+07:00", "kind": "returned", "unit": "Bộ phận Một cửa"}]}
# The case log of docs/formats.md: a supplement pause from Thu 4 Sep 09:00 to Fri 5 Sep 14:00.
PAUSED = {**LATE, "dossier": "EXPLAIN-PAUSE-1", "due_at": "2025-09-09T16:10:00+07:00", "events": [
    *LATE["events"][:2],
    {"at": "2025-09-04T09:00:00+07:00", "kind": "supplement_requested", "reason": "Thiếu bản sao CCCD"},
    {"at": "2025-09-05T14:00:00+07:00", "kind": "supplement_received"},
    *LATE["events"][2:]]}


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """A case log with both dossiers, its evidence, and a deployment synced from the same log."""
    (tmp_path / "in").mkdir()
    cases = tmp_path / "in" / "cases.jsonl"
    cases.write_bytes(orjson.dumps(LATE) + b"\n" + orjson.dumps(PAUSED) + b"\n")
    assert main(["evaluate", str(cases), "--as-of", AS_OF, "--out", str(tmp_path / "evidence.jsonl")]) == 0
    (tmp_path / "conf.toml").write_text(
        '[ledger]\npath = "ledger.db"\n'
        '[sources.onestop]\nadapter = "caselog"\nfolder = "in"\n'
        '[sinks.history]\nadapter = "ledger"\n', encoding="utf-8")
    assert main(["sync", "--config", str(tmp_path / "conf.toml"), "--as-of", AS_OF]) == 0
    return tmp_path


def explain(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["explain", *args, "--as-of", AS_OF])
    out, err = capsys.readouterr()
    return code, out, err


def from_file(folder: Path, dossier: str, *extra: str) -> list[str]:
    return [dossier, "--evidence", str(folder / "evidence.jsonl"), "--cases", str(folder / "in/cases.jsonl"), *extra]


def test_a_late_dossier_names_the_late_step_its_due_computation_and_the_rule(files, capsys):
    code, out, _ = explain(capsys, *from_file(files, "EXPLAIN-LATE-1"))
    assert code == 0
    td = out[out.index("Bước / Step TD"):out.index("Bước / Step PD")]
    assert "Thẩm định hồ sơ: late" in td
    # 720 working minutes from Thu 08:05: 445 on Thursday, 275 on Friday → Fri 13:35
    assert "allowance: 1.5 working_days = 720 working min" in td
    assert "due = start + allowance + paused 0 working min (0.00 h) → 2025-09-05T13:35:00+07:00" in td
    assert "Steps › Verdicts › late: finished after the due instant" in td
    assert "finished 2025-09-09T10:30:00+07:00 after its due 2025-09-05T13:35:00+07:00" in td
    assert "limit 3.0 working_days = 1440 working min (24.00 h) from received 2025-09-03T16:10:00+07:00" \
        " → computed due 2025-09-08T16:10:00+07:00" in out
    assert "Kết quả / Verdict: late — finished on 2025-09-09, after the effective due's day 2025-09-08" in out
    assert "Dossier verdict, rule 2" in out
    assert "late_step [TD]: finished after its due 2025-09-05T13:35:00+07:00" in out
    assert "Nonconformities › late_step: one per late or open_overdue step row" in out
    assert "Nonconformities › late_dossier" in out
    assert "Nguyễn Văn An" not in out  # a raw case log's personal data is withheld


def test_a_supplement_pause_is_shown_taken_out(files, capsys):
    code, out, _ = explain(capsys, *from_file(files, "EXPLAIN-PAUSE-1"))
    assert code == 0
    td = out[out.index("Bước / Step TD"):out.index("Bước / Step PD")]
    # docs/formats.md: 11.5 working hours paused move TD's due to 9 Sep 07:35
    assert "pause taken out: 2025-09-04T09:00:00+07:00 → 2025-09-05T14:00:00+07:00 = 690 working min" in td
    assert "paused 690 working min (11.50 h) → 2025-09-09T07:35:00+07:00" in td
    assert "appointment that applied: 2025-09-09T16:10:00+07:00" in out
    assert "pauses taken out: 690 working min (11.50 h) → effective due 2025-09-11T10:10:00+07:00" in out
    assert "(evidence says" not in out  # every recomputed due is the evidence's


def test_json_round_trips_and_is_the_explainer_output(files, capsys):
    code, out, _ = explain(capsys, *from_file(files, "EXPLAIN-PAUSE-1", "--json"))
    assert code == 0
    found = json.loads(out)
    assert json.loads(json.dumps(found, ensure_ascii=False)) == found
    assert found["explain_version"] == 1 and found["dossier"] == "EXPLAIN-PAUSE-1"
    evidence = next(e for e in map(json.loads, (files / "evidence.jsonl").read_text().splitlines())
                    if e["dossier"] == "EXPLAIN-PAUSE-1")
    assert [row["evidence_due_at"] for row in found["steps"]] == [row["due_at"] for row in evidence["steps"]]
    assert all(row["agrees"] for row in found["steps"]) and found["due"]["agrees"]
    assert found["verdict"]["verdict"] == evidence["verdict"]
    assert [n["kind"] for n in found["nonconformities"]] == [n["kind"] for n in evidence["nonconformities"]]
    evaluator = Evaluator(ProcedureBook.from_dir(samples.PROCEDURES), WorkingCalendar.from_file(samples.CALENDAR),
                          as_of=int(__import__("datetime").datetime.fromisoformat(AS_OF).timestamp()))
    direct = Explainer(evaluator).explain(evidence, None, {"kind": "evidence"})
    assert direct["steps"][1]["limit"] == found["steps"][1]["limit"] == {"value": 1.5, "unit": "working_days"}


def test_the_ledger_and_the_evidence_file_agree(files, capsys):
    _, by_file, _ = explain(capsys, *from_file(files, "EXPLAIN-PAUSE-1", "--json"))
    code, by_ledger, _ = explain(capsys, "EXPLAIN-PAUSE-1", "--config", str(files / "conf.toml"), "--json")
    assert code == 0
    by_file, by_ledger = json.loads(by_file), json.loads(by_ledger)
    for part in ("procedure", "calendar", "pauses", "due", "steps", "verdict", "nonconformities"):
        assert by_file[part] == by_ledger[part], part
    assert {e["source"] for e in by_ledger["events"]} == {"onestop"}
    assert all(e["evaluated"] for e in by_ledger["events"])
    strip = lambda events: [{k: v for k, v in e.items() if k not in ("source", "actor")} for e in events]  # noqa: E731
    assert strip(by_file["events"]) == strip(by_ledger["events"])
    assert by_ledger["origin"]["last_source"] == "onestop"
    assert "no record key and no read time per event" in by_ledger["origin"]["provenance"]
    # the caselog source's key of the line that last changed the dossier: its file and byte offset
    assert by_ledger["origin"]["last_record_key"].endswith(f"cases.jsonl:{len(orjson.dumps(LATE)) + 1}")
    assert by_ledger["origin"]["last_stored_at"].endswith(" UTC")
    actors = [e["actor"] for e in by_ledger["events"] if "actor" in e]
    assert actors and all(a.startswith("p-") for a in actors)  # the ledger holds pseudonyms only


@pytest.mark.parametrize("where", ["ledger", "evidence"])
def test_an_unknown_dossier_is_one_line_and_exit_1(files, capsys, where):
    args = ["NO-SUCH", "--config", str(files / "conf.toml")] if where == "ledger" else from_file(files, "NO-SUCH")
    code, out, err = explain(capsys, *args)
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and "'NO-SUCH' is not in" in err


def test_a_pending_dossier_says_what_it_waits_for_in_one_line(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in/cases.jsonl").write_bytes(orjson.dumps({k: v for k, v in LATE.items() if k != "status"}) + b"\n")
    (tmp_path / "conf.toml").write_text('[ledger]\npath = "ledger.db"\n[sources.onestop]\nadapter = "caselog"\n'
                                        'folder = "in"\n[sinks.history]\nadapter = "ledger"\n', encoding="utf-8")
    assert main(["sync", "--config", str(tmp_path / "conf.toml"), "--as-of", AS_OF]) == 0
    capsys.readouterr()
    code, out, err = explain(capsys, "EXPLAIN-LATE-1", "--config", str(tmp_path / "conf.toml"))
    assert (code, out, err.count("\n")) == (1, "", 1)
    assert "no evidence yet" in err and "pending, waiting for status" in err


@pytest.mark.parametrize("args, named", [
    (["--evidence", "absent.jsonl"], "absent.jsonl"),
    (["--config", "absent.toml"], "absent.toml"),
    (["--evidence", "evidence.jsonl", "--cases", "absent.jsonl"], "absent.jsonl"),
    (["--evidence", "evidence.jsonl", "--procedures", "absent"], "absent"),
], ids=["missing evidence", "missing config", "missing case log", "missing procedures"])
def test_missing_files_are_one_line(files, capsys, monkeypatch, args, named):
    monkeypatch.chdir(files)
    code, out, err = explain(capsys, "EXPLAIN-LATE-1", *args)
    assert (code, out, err.count("\n")) == (1, "", 1) and named in err


def test_without_arguments_is_a_usage_error(capsys):
    assert explain(capsys, "X")[0] == 2


def test_a_ledger_made_before_record_keys_were_kept_says_so(files, capsys):
    import sqlite3

    db = sqlite3.connect(files / "ledger.db")
    db.execute("ALTER TABLE dossiers DROP COLUMN record_key")  # the ledger as an older release left it
    db.execute("DELETE FROM meta WHERE key = 'schema_version'")  # before schemas had versions
    db.commit()
    db.close()
    code, out, _ = explain(capsys, "EXPLAIN-LATE-1", "--config", str(files / "conf.toml"))
    assert code == 0 and "last_record_key: (not kept: stored before record keys were)" in out
    assert main(["sync", "--config", str(files / "conf.toml"), "--as-of", AS_OF]) == 0  # the column comes back


def test_without_the_procedure_version_nothing_is_recomputed_and_it_says_so(files, tmp_path, capsys):
    procedures = tmp_path / "procedures"
    procedures.mkdir()
    (procedures / "other.toml").write_text((samples.PROCEDURES / "2.000908.toml").read_text(encoding="utf-8"),
                                           encoding="utf-8")
    code, out, _ = explain(capsys, *from_file(files, "EXPLAIN-LATE-1", "--procedures", str(procedures)))
    assert code == 0
    assert "no version of it in force at reception" in out
    assert "no procedure version in force at reception: nothing recomputed" in out
    assert "Kết quả / Verdict: late" in out and "Dossier verdict, rule 2" in out  # the evidence's, still cited


def test_every_recomputed_due_agrees_with_the_engine_on_a_generated_case_log():
    from isobridge.core.generate import CaseLogGenerator

    book, calendar = ProcedureBook.from_dir(samples.PROCEDURES), WorkingCalendar.from_file(samples.CALENDAR)
    as_of = int(__import__("datetime").datetime.fromisoformat(AS_OF).timestamp())
    evaluator = Evaluator(book, calendar, as_of=as_of)
    explainer = Explainer(evaluator)
    verdicts = set()
    for record in CaseLogGenerator(book, calendar, 14).records(300):
        evidence = evaluator.evaluate_record(record)
        found = explainer.explain(evidence, record, {"kind": "test"})
        verdicts.add(evidence["verdict"])
        assert found["due"]["agrees"], evidence["dossier"]
        if found["due"]["time_basis"] == "working":  # evidence's paused_minutes are working minutes
            assert found["due"]["paused_minutes"] == evidence["paused_minutes"], evidence["dossier"]
        for row, step in zip(found["steps"], evidence["steps"]):
            if step["verdict"] is not None:
                assert row["agrees"] and row["counted_minutes"] == step["used_minutes"], (evidence["dossier"], row)
    assert {"late", "early", "paused", "refused"} <= verdicts


def test_another_calendar_is_named_and_each_due_it_moves_flagged(files, tmp_path, capsys):
    calendar = tmp_path / "calendar.toml"
    calendar.write_text('name = "VN-sample"\ncountry = "VN"\ndays_off = [2025-09-05]\nyears = [2015, 2035]\n',
                        encoding="utf-8")
    code, out, _ = explain(capsys, *from_file(files, "EXPLAIN-LATE-1", "--calendar", str(calendar), "--json"))
    found = json.loads(out)
    assert code == 0 and found["calendar"]["same"] is False
    assert found["calendar"]["evidence"]["version"] != found["calendar"]["version"]
    td = found["steps"][1]
    # Friday 5 Sep is a day off on this calendar: TD's 275 minutes left after Thursday run on Monday
    assert (td["step"], td["agrees"], td["due_at"]) == ("TD", False, "2025-09-08T13:35:00+07:00")
    assert td["evidence_due_at"] == "2025-09-05T13:35:00+07:00"
    _, text, _ = explain(capsys, *from_file(files, "EXPLAIN-LATE-1", "--calendar", str(calendar)))
    assert "it differs" in text and "(evidence says 2025-09-05T13:35:00+07:00)" in text
