"""The ledger stores records and evidence compressed (zstd, shared dictionary kept in its meta
table); rows an older version stored plain stay readable; sinks get plain JSON."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson
from isobridge.core import samples
from isobridge.core.calendar import WorkingCalendar
from isobridge.core.cli import main
from isobridge.core.generate import CaseLogGenerator
from isobridge.core.ledger import BLOBS, ZSTD_FRAME, Ledger, plain_blob, zstd
from isobridge.core.procedures import ProcedureBook

AS_OF = "2026-11-01T00:00:00+07:00"


def deployment(folder: Path, count: int, seed: int = 11) -> Path:
    """A deployment syncing `count` generated dossiers from a case log into a jsonl sink."""
    (folder / "in").mkdir(parents=True)
    generator = CaseLogGenerator(ProcedureBook.from_dir(samples.PROCEDURES), WorkingCalendar.from_file(samples.CALENDAR), seed)
    (folder / "in/a.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in generator.records(count)))
    (folder / "conf.toml").write_text(
        '[ledger]\npath = "ledger.db"\n[sources.onestop]\nadapter = "caselog"\nfolder = "in"\n'
        '[sinks.evidence]\nadapter = "jsonl"\npath = "out/evidence.jsonl"\n', encoding="utf-8")
    return folder


def sync(folder: Path) -> int:
    return main(["sync", "--config", str(folder / "conf.toml"), "--as-of", AS_OF])


def sink_lines(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "out/evidence.jsonl").read_text().splitlines()]


def evidence_of(line: dict) -> dict:
    """A sink line less the revision the jsonl sink adds."""
    return {key: value for key, value in line.items() if key != "revision"}


def test_a_synced_dossier_takes_under_a_kilobyte_and_sinks_get_plain_json(tmp_path: Path) -> None:
    folder = deployment(tmp_path, 2000)
    assert sync(folder) == 0
    db = sqlite3.connect(folder / "ledger.db")
    db.execute("VACUUM")
    rows = db.execute("SELECT dossier, record, evidence FROM dossiers").fetchall()
    db.close()
    assert len(rows) == 2000
    assert all(record[:4] == ZSTD_FRAME and evidence[:4] == ZSTD_FRAME for _, record, evidence in rows)
    assert os.path.getsize(folder / "ledger.db") / 2000 < 1024
    ledger = Ledger(folder / "ledger.db")
    delivered = {line["dossier"]: line for line in sink_lines(folder)}
    assert len(delivered) == 2000
    for dossier, _, evidence in rows[:50]:
        assert ledger.evidence(dossier) == orjson.loads(plain_blob(evidence)) == evidence_of(delivered[dossier])
    assert sorted(e["dossier"] for e in ledger.iter_evidence()) == sorted(delivered)
    ledger.close()


def _as_an_older_version_stored_them(path: Path) -> None:
    """Rewrite every blob plain, as the ledger stored it before compression."""
    db = sqlite3.connect(path)
    rows = db.execute("SELECT dossier, record, evidence FROM dossiers").fetchall()
    db.executemany("UPDATE dossiers SET record = ?, evidence = ? WHERE dossier = ?",
                   [(plain_blob(record), plain_blob(evidence), dossier) for dossier, record, evidence in rows])
    db.commit()
    assert all(r[:1] == b"{" for (r,) in db.execute("SELECT record FROM dossiers"))
    db.close()


def test_plain_rows_of_an_older_ledger_are_read_and_compared_as_they_are(tmp_path: Path) -> None:
    """Read again from the start over plain stored rows: same evidence, so no revision and nothing
    delivered again (staging compares the plain evidence, not the stored bytes)."""
    folder = deployment(tmp_path, 300)
    assert sync(folder) == 0
    before = sink_lines(folder)
    _as_an_older_version_stored_them(folder / "ledger.db")
    ledger = Ledger(folder / "ledger.db")
    codes = [line["dossier"] for line in before]
    stored = ledger.records(codes)
    assert {code: orjson.loads(plain_blob(stored[code][3])) for code in codes} == {line["dossier"]: evidence_of(line) for line in before}
    assert ledger.evidence_blobs(codes[:3])[codes[0]][1] == plain_blob(stored[codes[0]][3])
    ledger.reset("onestop")
    ledger.close()
    assert sync(folder) == 0
    assert sink_lines(folder) == before
    with sqlite3.connect(folder / "ledger.db") as db:
        assert db.execute("SELECT max(revision), count(*) FROM revisions").fetchone() == (1, 300)


def test_a_dictionary_kept_in_the_meta_table_reads_its_rows_in_a_fresh_process(tmp_path: Path) -> None:
    """Blobs compressed with another dictionary (a later or earlier version's) stay readable:
    every dictionary is kept in the ledger's meta table; an unknown one is a clear error."""
    folder = deployment(tmp_path, 300)
    assert sync(folder) == 0
    ledger = Ledger(folder / "ledger.db")
    assert ledger.meta(f"blob_dictionary:{BLOBS.current.dict_id}") == base64.b64encode(BLOBS.current.dict_content).decode()
    blobs = [plain_blob(e) for (e,) in ledger.db.execute("SELECT evidence FROM dossiers")]
    other = zstd.train_dict(blobs, 4096)
    assert other.dict_id != BLOBS.current.dict_id
    dossier = ledger.db.execute("SELECT dossier FROM dossiers ORDER BY dossier LIMIT 1").fetchone()[0]
    expected = ledger.evidence(dossier)
    packed = zstd.compress(orjson.dumps(expected), zstd_dict=other)
    ledger.db.execute("UPDATE dossiers SET evidence = ? WHERE dossier = ?", (packed, dossier))
    ledger.close()
    read = [sys.executable, "-c", "import sys, json; from isobridge.core.ledger import Ledger;"
            " print(json.dumps(Ledger(sys.argv[1]).evidence(sys.argv[2])))", str(folder / "ledger.db"), dossier]
    unknown = subprocess.run(read, capture_output=True, text=True)
    assert unknown.returncode != 0 and f"dictionary {other.dict_id}" in unknown.stderr
    with sqlite3.connect(folder / "ledger.db") as db:
        db.execute("INSERT INTO meta VALUES (?, ?)",
                   (f"blob_dictionary:{other.dict_id}", base64.b64encode(other.dict_content).decode()))
    known = subprocess.run(read, capture_output=True, text=True, check=True)
    assert json.loads(known.stdout) == expected



def test_stored_evidence_is_compared_as_json_whatever_its_bytes() -> None:
    """"Same evidence" (no new revision) is decided on the JSON: a blob stored plain, or compressed
    otherwise (another level, a later zstd), is the same evidence; one of equal size is not."""
    value = orjson.dumps({"dossier": "D-1", "verdict": "on_time", "steps": [{"used_minutes": 116}] * 5})
    packed = BLOBS.pack(value)
    otherwise = zstd.compress(value, 19, zstd_dict=BLOBS.current)
    assert otherwise != packed
    for stored in (value, packed, otherwise):
        assert BLOBS.same(stored, value, packed)
    changed = value.replace(b"116", b"120")
    assert len(changed) == len(value)
    for stored in (changed, BLOBS.pack(changed), zstd.compress(changed, 19, zstd_dict=BLOBS.current)):
        assert not BLOBS.same(stored, value, packed)
        assert BLOBS.same(stored, changed, BLOBS.pack(changed))
