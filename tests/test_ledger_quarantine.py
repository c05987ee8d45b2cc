"""The quarantine keeps original payloads for replay, but never in clear: sealed (AES-GCM, key
derived from the pseudonym key), shown to operators only as a scrubbed view."""

from __future__ import annotations

import json
from pathlib import Path

import orjson

from isobridge.core.cli import main
from isobridge.core.ledger import Ledger
from test_sync_job import (add_procedure, deployment, evidence_lines, ledger_db, ledger_of, sync,  # noqa: F401 (fixture)
                           write_cases)

PERSON = {"HoTen": "Nguyễn Văn Công", "SoCCCD": "079199012345", "DiaChi": "12 Đường Láng, Hà Nội"}


def plant(folder: Path) -> dict:
    """A dossier of an unknown procedure (quarantined at evaluation) carrying personal data in
    fields no list of personal fields knows."""
    record = dict(write_cases(folder / "gen.jsonl", 1)[0], procedure="9.999999", **PERSON)
    with open(folder / "in/a.jsonl", "ab") as out:
        out.write(orjson.dumps(record) + b"\n")
    return record


def ledger_bytes(folder: Path) -> bytes:
    """Everything the ledger holds: its SQLite files, or every value of every table on PostgreSQL."""
    if (folder / "ledger.db").exists():
        return b"".join(path.read_bytes() for path in folder.glob("ledger.db*"))
    with ledger_db(folder) as db:
        return b"".join(value if isinstance(value, bytes) else str(value).encode()
                        for table in ("meta", "checkpoints", "dossiers", "revisions", "sinks", "quarantine", "runs")
                        for row in db.execute(f"SELECT * FROM {table}").fetchall() for value in row)


def test_quarantined_payloads_are_sealed_and_replay_still_works(deployment: Path, tmp_path: Path, capsys) -> None:
    with open(deployment / "conf.toml", "a") as conf:
        conf.write('[privacy]\npseudonym_key = "a-deployment-key"\n')
    record = plant(deployment)
    assert sync(deployment) == 3
    stored = ledger_bytes(deployment)
    for value in PERSON.values():
        assert value.encode() not in stored
    with ledger_db(deployment) as db:
        (payload,) = db.execute("SELECT payload FROM quarantine").fetchone()
    assert payload.startswith("sealed:v1:")

    capsys.readouterr()
    assert main(["quarantine", "show", "1", "--config", str(deployment / "conf.toml")]) == 0
    shown = capsys.readouterr().out
    assert record["dossier"] in shown and "9.999999" in shown  # codes stay readable
    assert not any(value in shown for value in PERSON.values())

    add_procedure(deployment, tmp_path, "9.999999")
    assert main(["quarantine", "replay", "all", "--config", str(deployment / "conf.toml")]) == 0
    assert evidence_lines(deployment)[-1]["dossier"] == record["dossier"]


def test_a_payload_sealed_under_another_key_is_not_opened(deployment: Path, capsys) -> None:
    plant(deployment)
    assert sync(deployment) == 3  # sealed under the ledger's own key
    with open(deployment / "conf.toml", "a") as conf:
        conf.write('[privacy]\npseudonym_key = "another-key"\n')
    capsys.readouterr()
    assert main(["quarantine", "show", "1", "--config", str(deployment / "conf.toml")]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert "cannot be opened" in shown["errors"][-1]
    assert main(["quarantine", "replay", "1", "--config", str(deployment / "conf.toml")]) == 1


def test_payloads_an_older_version_stored_in_clear_are_sealed_when_opened(deployment: Path) -> None:
    plant(deployment)
    assert sync(deployment) == 3
    ledger = ledger_of(deployment)
    (entry,) = ledger.quarantined()
    with ledger.transaction() as db:  # as an older version left it
        db.execute("UPDATE quarantine SET payload = ?", (entry.payload,))
    ledger_of(deployment).protect()
    with ledger_db(deployment) as db:
        (payload,) = db.execute("SELECT payload FROM quarantine").fetchone()
    assert payload.startswith("sealed:v1:")
    assert ledger_of(deployment).quarantined()[0].payload == entry.payload
