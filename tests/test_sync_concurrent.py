"""Two sources synced by concurrent processes, killed at random moments, on SQLite and PostgreSQL:
every dossier ends in every sink exactly once per revision, its latest revision included, and a
dossier both sources describe keeps what each of them brought (no lost update)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from isobridge.core.ledger import Ledger, plain_blob
from isobridge.core.settings import load_settings
from test_sync_job import wait_for_locks, write_cases as generated_cases

AS_OF = "2026-11-01T00:00:00+07:00"
CLI = "import sys; from isobridge.core.cli import main; sys.exit(main(sys.argv[1:]))"


def start(folder: Path, *arguments: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CLI, *arguments, "--config", str(folder / "conf.toml")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def configure(folder: Path, ledger_toml: str) -> None:
    for name in ("in-a", "in-b", "out"):
        (folder / name).mkdir()
    (folder / "conf.toml").write_text(
        f'{ledger_toml}[sync]\nbatch_size = 10\nworkers = 1\n'
        '[sources.a]\nadapter = "caselog"\nfolder = "in-a"\npage_lines = 25\nsettle_seconds = 0\n'
        '[sources.b]\nadapter = "caselog"\nfolder = "in-b"\npage_lines = 25\nsettle_seconds = 0\n'
        '[sinks.evidence]\nadapter = "jsonl"\npath = "out/evidence.jsonl"\n'
        '[sinks.history]\nadapter = "ledger"\npath = "history.db"\n', encoding="utf-8")


def write_cases(path: Path, count: int, seed: int, prefix: str) -> list[dict]:
    """Generated dossiers written to `path`, their codes made unique with `prefix` (the generator
    numbers dossiers per day, so two seeds give the same codes)."""
    scratch = path.with_suffix(".tmp")
    records = [dict(record, dossier=f"{prefix}{record['dossier']}") for record in generated_cases(scratch, count, seed)]
    scratch.unlink()
    with open(path, "ab") as out:
        out.write(b"".join(orjson.dumps(record) + b"\n" for record in records))
    return records


def grown(record: dict, day: int) -> dict:
    """The dossier as the other source sees it: one more event (an apology), its own."""
    return dict(record, events=record["events"] + [
        {"at": f"2026-10-{day:02d}T09:00:00+07:00", "kind": "apology_issued", "reason": f"b-{day}"}])


def test_concurrent_per_source_syncs_killed_at_random_lose_and_duplicate_nothing(tmp_path: Path, ledger_toml: str) -> None:
    configure(tmp_path, ledger_toml)
    rnd, written, shared, kills = random.Random(15), {}, {}, 0
    for round_number in range(12):  # until enough runs were killed mid-way (a loaded machine is slower)
        if round_number >= 5 and kills >= 4:
            break
        a_records = write_cases(tmp_path / f"in-a/part-{round_number}.jsonl", 150, 100 + round_number, f"A{round_number}-")
        b_records = write_cases(tmp_path / f"in-b/part-{round_number}.jsonl", 150, 200 + round_number, f"B{round_number}-")
        both = [grown(record, 10 + round_number) for record in a_records[:25]]  # dossiers both sources describe
        with open(tmp_path / f"in-b/part-{round_number}.jsonl", "ab") as out:
            out.write(b"".join(orjson.dumps(record) + b"\n" for record in both))
        written.update({r["dossier"]: r for r in a_records + b_records})
        shared.update({r["dossier"]: f"b-{10 + round_number}" for r in both})
        processes = [start(tmp_path, "sync", "--source", name, "--as-of", AS_OF) for name in ("a", "b")]
        time.sleep(rnd.uniform(0.2, 1.2))
        for process in processes:
            if process.poll() is None and rnd.random() < 0.7:
                os.kill(process.pid, signal.SIGKILL)
                kills += 1
        for process in processes:
            process.wait(timeout=600)
    wait_for_locks(tmp_path, "source:a", "source:b", "sink:evidence", "sink:history")
    finals = [start(tmp_path, "sync", "--source", name, "--as-of", AS_OF) for name in ("a", "b")]
    for process in finals:
        assert process.wait(timeout=600) in (0, 3), process.stderr.read().decode()
    deliver = start(tmp_path, "deliver")
    assert deliver.wait(timeout=300) == 0, deliver.stderr.read().decode()
    assert kills >= 4, "the syncs finished before they could be killed: the test proves nothing"

    ledger = Ledger.open(load_settings(tmp_path / "conf.toml").ledger)
    latest = {code: ledger.records([code])[code][2] for code in written}
    assert all(revision >= 1 for revision in latest.values())  # nothing lost
    assert ledger.backlog() == 0 and not ledger.locks()
    lines = [json.loads(line) for line in (tmp_path / "out/evidence.jsonl").read_text().splitlines()]
    import sqlite3
    with sqlite3.connect(tmp_path / "history.db") as db:
        history = db.execute("SELECT dossier, revision FROM evidence").fetchall()
    for delivered in ([(line["dossier"], line["revision"]) for line in lines], history):
        assert len(delivered) == len(set(delivered))  # nothing twice
        assert {pair for pair in delivered if latest[pair[0]] == pair[1]} == set(latest.items())  # each latest once
        assert all(revision <= latest[code] for code, revision in delivered)
    for code, reason in shared.items():  # both sources' events kept, whichever wrote last
        record = json.loads(plain_blob(ledger.records([code])[code][0]))
        assert reason in {event.get("reason") for event in record["events"] if event.get("source") == "b"}, code
        assert sum(1 for event in record["events"] if event.get("source") == "a") == len(written[code]["events"]), code


@pytest.mark.parametrize("backend", ["postgresql"])
def test_two_sources_of_one_dossier_merge_under_concurrency(tmp_path: Path, ledger_toml: str) -> None:
    """Both sources describe the same 200 dossiers, each with an event of its own, synced at once
    many times: every dossier ends with both events."""
    configure(tmp_path, ledger_toml)
    records = write_cases(tmp_path / "in-a/part.jsonl", 200, 7, "S-")
    with open(tmp_path / "in-b/part.jsonl", "ab") as out:
        out.write(b"".join(orjson.dumps(grown(record, 20)) + b"\n" for record in records))
    processes = [start(tmp_path, "sync", "--source", name, "--as-of", AS_OF) for name in ("a", "b")]
    for process in processes:
        assert process.wait(timeout=600) in (0, 3), process.stderr.read().decode()
    ledger = Ledger.open(load_settings(tmp_path / "conf.toml").ledger)
    stored = ledger.records([record["dossier"] for record in records])
    for record in records:
        events = json.loads(plain_blob(stored[record["dossier"]][0]))["events"]
        by_source = [sum(1 for event in events if event.get("source") == name) for name in ("a", "b")]
        assert by_source == [len(record["events"]), len(record["events"]) + 1]  # each source's events, all of them
