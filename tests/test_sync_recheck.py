"""A dossier stuck at a unit gets no new record; its evidence must still turn overdue when its due passes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from isobridge.core.cli import main

# received Tuesday 1 July 2025 08:00, procedure 2.001023 (10 working days), then handed to a unit
STUCK = {"dossier": "HS-STUCK", "procedure": "2.001023", "agency": "Sở Tư pháp", "channel": "direct",
         "received_at": "2025-07-01T08:00:00+07:00", "status": 4,
         "events": [{"at": "2025-07-01T08:00:00+07:00", "kind": "received", "step": "TN"},
                    {"at": "2025-07-01T09:00:00+07:00", "kind": "handover", "step": "XM", "unit": "Phòng Lý lịch tư pháp"}]}


def deployment(tmp_path: Path) -> Path:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text(json.dumps(STUCK, ensure_ascii=False) + "\n", encoding="utf-8")
    (tmp_path / "conf.toml").write_text(
        '[ledger]\npath = "ledger.db"\n[sources.onestop]\nadapter = "caselog"\nfolder = "in"\nsettle_seconds = 0\n'
        '[sinks.evidence]\nadapter = "jsonl"\npath = "out/evidence.jsonl"\n', encoding="utf-8")
    return tmp_path


def sync(folder: Path, as_of: str) -> int:
    return main(["sync", "--config", str(folder / "conf.toml"), "--as-of", as_of])


def delivered(folder: Path) -> list[tuple[str, str]]:
    lines = (folder / "out" / "evidence.jsonl").read_text(encoding="utf-8").splitlines()
    return [(e["verdict"], [s["verdict"] for s in e["steps"]][-1]) for e in map(json.loads, lines)]


def test_a_stuck_dossier_turns_overdue_without_a_new_record(tmp_path: Path) -> None:
    folder = deployment(tmp_path)
    assert sync(folder, "2025-07-01T10:00:00+07:00") == 0
    assert delivered(folder) == [("open_on_time", "open")]
    assert sync(folder, "2025-07-02T10:00:00+07:00") == 0  # nothing passed its due: no new revision
    assert len(delivered(folder)) == 1
    assert sync(folder, "2025-08-01T10:00:00+07:00") == 0  # the dossier's due and its step's are past
    assert delivered(folder) == [("open_on_time", "open"), ("open_overdue", "open_overdue")]
    assert sync(folder, "2025-08-02T10:00:00+07:00") == 0  # nothing more changes with time alone
    assert len(delivered(folder)) == 2


def test_an_older_ledger_rechecks_its_open_dossiers_once(tmp_path: Path) -> None:
    folder = deployment(tmp_path)
    assert sync(folder, "2025-07-01T10:00:00+07:00") == 0
    with sqlite3.connect(folder / "ledger.db") as db:  # as a ledger written before the column existed
        db.execute("DROP INDEX dossiers_recheck")
        db.execute("ALTER TABLE dossiers DROP COLUMN recheck_at")
        db.execute("DELETE FROM meta WHERE key = 'schema_version'")  # before schemas had versions
    assert sync(folder, "2025-08-01T10:00:00+07:00") == 0
    assert delivered(folder)[-1] == ("open_overdue", "open_overdue")
