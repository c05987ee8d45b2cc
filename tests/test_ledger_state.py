"""What the ledger shows operators: every pending dossier with why and since when, a source's
checkpoint notes, killed runs, and no secret in the runs table or the quarantine's reasons."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
from pathlib import Path

import orjson

from isobridge.core import logs
from isobridge.core.cli import main
from isobridge.core.ledger import Ledger
from isobridge.core.runs import QuarantineEntry
from test_sync_job import deployment, sync, write_cases  # noqa: F401 (fixture)


def state(folder: Path, capsys) -> str:
    capsys.readouterr()
    assert main(["state", "show", "--config", str(folder / "conf.toml")]) == 0
    return capsys.readouterr().out


def test_state_lists_every_pending_dossier_with_what_it_lacks_and_its_age(deployment: Path, capsys) -> None:
    no_status, no_procedure, fine = write_cases(deployment / "gen.jsonl", 3)
    no_status = dict(no_status, status="")  # what a portal payload gives when it has no status mapping
    no_procedure = {k: v for k, v in no_procedure.items() if k != "procedure"}
    with open(deployment / "in/a.jsonl", "wb") as out:
        out.write(b"".join(orjson.dumps(r) + b"\n" for r in (no_status, no_procedure, fine)))
    assert sync(deployment) == 0
    shown = state(deployment, capsys)
    assert "pending dossiers: 2" in shown
    lines = {line.split("\t")[0]: line.split("\t") for line in shown.splitlines() if "\t" in line}
    assert lines[no_status["dossier"]][1] == "onestop" and lines[no_status["dossier"]][4] == "status"
    assert lines[no_procedure["dossier"]][4] == "procedure"
    assert lines[no_status["dossier"]][3].endswith("m") and lines[no_status["dossier"]][2]  # age, since
    assert fine["dossier"] not in lines


def test_a_resolved_status_without_its_finish_event_waits_listed_not_judged(deployment: Path, capsys) -> None:
    """Status 10 with no `resolved`/`returned` event: judging it would call a finished dossier
    overdue; it waits, listed with the reason, and is evaluated once the event arrives."""
    (record,) = write_cases(deployment / "gen.jsonl", 1)
    finishing = [e for e in record["events"] if e["kind"] in ("resolved", "returned")]
    partial = dict(record, status=10, events=[e for e in record["events"] if e not in finishing])
    with open(deployment / "in/a.jsonl", "wb") as out:
        out.write(orjson.dumps(partial) + b"\n")
    assert sync(deployment) == 0
    shown = state(deployment, capsys)
    assert "pending dossiers: 1" in shown and "status 10 says resolved" in shown
    with open(deployment / "in/a.jsonl", "ab") as out:
        out.write(orjson.dumps(dict(partial, events=finishing or [
            {"at": record["events"][-1]["at"], "kind": "resolved"}])) + b"\n")
    assert sync(deployment) == 0
    assert "pending dossiers: 0" in state(deployment, capsys)


def test_state_shows_the_notes_a_source_keeps_in_its_checkpoint(deployment: Path, capsys) -> None:
    write_cases(deployment / "in/a.jsonl", 2)
    assert sync(deployment) == 0
    ledger = Ledger(deployment / "ledger.db")
    cursor = {"a.jsonl": {"offset": 10, "note": "last line unfinished (41 bytes) since 2026-11-01T08:00:00+00:00"},
              "notes": ["b.jsonl: rewritten in place, read again"]}
    with ledger.transaction() as db:
        ledger.set_checkpoint(db, "onestop", orjson.dumps(cursor).decode())
    shown = state(deployment, capsys)
    assert "  note: b.jsonl: rewritten in place, read again" in shown
    assert "  note: a.jsonl: last line unfinished (41 bytes)" in shown


def _start_and_die(path: str) -> None:
    ledger = Ledger(path)
    ledger.acquire("source:onestop")
    ledger.start_run(["onestop"], ["source:onestop"])
    os._exit(0)  # as kill -9 would: no finish_run, no release


def test_a_killed_run_is_marked_killed_when_the_lock_is_next_taken(deployment: Path, capsys) -> None:
    write_cases(deployment / "in/a.jsonl", 3)
    child = multiprocessing.get_context("fork").Process(target=_start_and_die, args=(str(deployment / "ledger.db"),))
    child.start()
    child.join()
    assert sync(deployment) == 0
    capsys.readouterr()
    assert main(["runs", "--config", str(deployment / "conf.toml")]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()[1:]]
    assert [row[4] for row in rows] == ["ok", "killed"]
    assert f"pid {child.pid}" in rows[1][11]


def test_the_runs_table_and_quarantine_reasons_hold_no_secret(deployment: Path, monkeypatch, capsys) -> None:
    secret = "s3cr3t-T0KEN-in-a-path"
    monkeypatch.setenv("ISOBRIDGE_SOURCES__ONESTOP__API_TOKEN", secret)
    monkeypatch.setenv("ISOBRIDGE_SINKS__EVIDENCE__PATH", f"/proc/forbidden-{secret}/x.jsonl")
    write_cases(deployment / "in/a.jsonl", 2)
    assert sync(deployment) == 1
    with sqlite3.connect(deployment / "ledger.db") as db:
        errors = [row[0] for row in db.execute("SELECT error FROM runs")]
    assert errors and all(error and secret not in error and "***" in error for error in errors)
    ledger = Ledger(deployment / "ledger.db")
    with ledger.transaction() as db:
        ledger.quarantine(db, QuarantineEntry("onestop", "k", "map", "{}", [f"login refused for {secret}"]), None)
    assert ledger.quarantined()[0].errors == ["login refused for ***"]
    logs.configure(secrets=[])


def test_iter_records_streams_every_dossier_with_state(tmp_path):
    """`iter_records` yields every stored dossier (pending and failed too) with its record."""
    from isobridge.core.ledger import Ledger, pack_blob

    ledger = Ledger(tmp_path / "l.db")
    with ledger.transaction() as db:
        for code, state in (("B", "pending"), ("A", "failed")):
            db.execute("INSERT INTO dossiers (dossier, source, record, record_hash, state, updated_at)"
                       " VALUES (?, 's', ?, '', ?, 'now')", (code, pack_blob(b'{"dossier":"%s"}' % code.encode()), state))
    assert list(ledger.iter_records()) == [("A", "failed", {"dossier": "A"}, None), ("B", "pending", {"dossier": "B"}, None)]
