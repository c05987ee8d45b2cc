"""A sync makes a new evidence revision only when the evidence changes: not when a record is
read again (a reset checkpoint, a page re-read), in another Unicode form, or with fields the
ledger does not keep; and two sources of one dossier follow the deployment's step-source rule."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from pathlib import Path

import orjson

from isobridge.core import samples
from isobridge.core.calendar import WorkingCalendar
from isobridge.core.cli import main
from isobridge.core.engine import Evaluator
from isobridge.core.ledger import plain_blob
from isobridge.core.procedures import ProcedureBook
from test_sync_job import AS_OF, deployment, evidence_lines, ledger_db, sync, write_cases  # noqa: F401 (fixture)


def append(path: Path, *records: dict) -> None:
    with open(path, "ab") as out:
        out.write(b"".join(orjson.dumps(record) + b"\n" for record in records))


def stored(folder: Path) -> dict[str, tuple[dict, int]]:
    with ledger_db(folder) as db:
        return {d: (orjson.loads(plain_blob(r)), n) for d, r, n in db.execute("SELECT dossier, record, revision FROM dossiers")}


def test_reading_everything_again_after_a_reset_makes_no_revision(deployment: Path) -> None:
    records = write_cases(deployment / "gen.jsonl", 30)
    shuffled = dict(records[0], events=records[0]["events"][::-1] + records[0]["events"][:2])  # unsorted, doubled
    append(deployment / "in/a.jsonl", shuffled, *records[1:])
    assert sync(deployment) == 0
    before = stored(deployment)
    assert main(["state", "reset", "onestop", "--config", str(deployment / "conf.toml")]) == 0
    assert sync(deployment) == 0
    assert stored(deployment) == before
    assert {line["revision"] for line in evidence_lines(deployment)} == {1}
    assert len(evidence_lines(deployment)) == 30


def test_an_event_that_changes_no_finding_makes_no_revision(deployment: Path) -> None:
    records = write_cases(deployment / "in/a.jsonl", 5)
    assert sync(deployment) == 0
    closed = next(r for r in records if r["status"] == 10)  # an apology after the result changes nothing
    append(deployment / "in/b.jsonl", dict(closed, events=closed["events"] + [
        {"at": "2026-10-30T09:00:00+07:00", "kind": "apology_issued", "reason": "r"}]))
    assert sync(deployment) == 0
    assert len(evidence_lines(deployment)) == 5
    record, revision = stored(deployment)[closed["dossier"]]
    assert revision == 1 and record["events"][-1]["kind"] == "apology_issued"  # the record did change


def nfd(value: object) -> object:
    """Every text of a record in NFD."""
    if isinstance(value, str):
        return unicodedata.normalize("NFD", value)
    if isinstance(value, list):
        return [nfd(item) for item in value]
    if isinstance(value, dict):
        return {key: nfd(item) for key, item in value.items()}
    return value


def test_the_same_dossier_in_nfd_then_nfc_is_one_dossier_in_nfc(deployment: Path) -> None:
    record = write_cases(deployment / "gen.jsonl", 1)[0]
    assert nfd(record) != record  # Vietnamese unit names: the forms differ
    append(deployment / "in/a.jsonl", nfd(record))
    assert sync(deployment) == 0
    append(deployment / "in/b.jsonl", record)
    assert sync(deployment) == 0
    merged, revision = stored(deployment)[record["dossier"]]
    assert revision == 1 and len(merged["events"]) == len(record["events"])
    units = {event.get("unit") for event in merged["events"]} - {None}
    assert units == {event.get("unit") for event in record["events"]} - {None}
    assert all(unicodedata.is_normalized("NFC", unit) for unit in units)


def test_only_the_evaluations_fields_are_stored(deployment: Path, capsys) -> None:
    record = write_cases(deployment / "gen.jsonl", 1)[0]
    planted = dict(record, applicant="079199012345", applicant_name="Nguyễn Thị Kiểm Thử", MaDoiTuong="Trần Văn B",
                   phone="0912345678", events=[dict(event, note="gọi 0912345678") for event in record["events"]])
    append(deployment / "in/a.jsonl", planted)
    assert sync(deployment) == 0
    merged, _ = stored(deployment)[record["dossier"]]
    text = orjson.dumps(merged).decode()
    for value in ("079199012345", "Nguyễn Thị Kiểm Thử", "Trần Văn B", "0912345678"):
        assert value not in text
    assert set(merged) == {"dossier", "procedure", "agency", "channel", "received_at", "due_at", "status",
                           "applicant", "events", "header_at"} & (set(record) | {"applicant", "events", "header_at"})
    assert merged["applicant"].startswith("p-")
    assert not {"note"} & {name for event in merged["events"] for name in event}
    logged = capsys.readouterr().err
    # the case-log source keeps only the canonical fields itself; what still reaches the core's
    # edge (personal fields) is dropped there, named, never shown
    assert "applicant_name (1)" in logged
    assert "Nguyễn Thị Kiểm Thử" not in logged and "Trần Văn B" not in logged


def two_source_deployment(folder: Path, rule: str) -> Path:
    for name in ("onegate", "portal"):
        (folder / name).mkdir()
    (folder / "conf.toml").write_text(
        f'[ledger]\npath = "ledger.db"\n{rule}\n'
        '[sources.onegate]\nadapter = "caselog"\nfolder = "onegate"\n'
        '[sources.portal]\nadapter = "caselog"\nfolder = "portal"\n'
        '[sinks.evidence]\nadapter = "jsonl"\npath = "out/evidence.jsonl"\n', encoding="utf-8")
    return folder


def portal_view(record: dict) -> dict:
    """The same dossier as a second system reports it: each event an hour later, other unit names."""
    def later(text: str) -> str:
        moment = datetime.fromisoformat(text)
        return moment.replace(hour=min(moment.hour + 1, 23)).isoformat()
    return dict(record, events=[dict(event, at=later(event["at"]), unit=f"{event.get('unit')} (portal)")
                                for event in record["events"]])


def expected(record: dict) -> dict:
    evaluator = Evaluator(ProcedureBook.from_dir(samples.PROCEDURES), WorkingCalendar.from_file(samples.CALENDAR))
    evaluator.as_of = int(datetime.fromisoformat(AS_OF).timestamp())
    return evaluator.evaluate_record(record)


def steps(evidence: dict) -> list[tuple]:
    return [(s["step"], s.get("unit"), s.get("started_at"), s.get("finished_at")) for s in evidence["steps"]]


def test_the_authoritative_source_gives_the_steps(tmp_path: Path) -> None:
    folder = two_source_deployment(tmp_path, '[sync.step_source]\ndefault = ["onegate", "portal"]')
    both, portal_only = write_cases(tmp_path / "gen.jsonl", 2)
    append(folder / "onegate/a.jsonl", both, {k: v for k, v in portal_only.items() if k != "events"})
    append(folder / "portal/a.jsonl", portal_view(both), portal_only)
    assert sync(folder) == 0
    evidence = {line["dossier"]: line for line in evidence_lines(folder)}
    assert steps(evidence[both["dossier"]]) == steps(expected(both))  # onegate's events alone
    assert steps(evidence[portal_only["dossier"]]) == steps(expected(portal_only))  # onegate had none


def test_without_a_rule_both_sources_events_are_evaluated(tmp_path: Path) -> None:
    folder = two_source_deployment(tmp_path, "")
    both = write_cases(tmp_path / "gen.jsonl", 1)[0]
    append(folder / "onegate/a.jsonl", both)
    append(folder / "portal/a.jsonl", portal_view(both))
    assert sync(folder) == 0
    assert steps(evidence_lines(folder)[-1]) != steps(expected(both))


def test_a_rule_naming_no_configured_source_is_refused(tmp_path: Path, capsys) -> None:
    folder = two_source_deployment(tmp_path, '[sync.step_source]\nprocedures = { "1.001612" = "onegat" }')
    assert sync(folder) == 1
    assert "'onegat' is no configured source" in capsys.readouterr().err
