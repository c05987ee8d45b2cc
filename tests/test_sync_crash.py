"""kill -9 at random moments, many times: nothing lost, nothing duplicated, in every sink."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from test_sync_job import ledger_db, wait_for_locks, write_cases

AS_OF = "2026-11-01T00:00:00+07:00"


def start_sync(folder: Path) -> subprocess.Popen:
    code = "import sys; from isobridge.core.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen(
        [sys.executable, "-c", code, "sync", "--config", str(folder / "conf.toml"), "--as-of", AS_OF],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("page_lines", [30, 600])
def test_kill_9_at_random_moments_loses_and_duplicates_nothing(tmp_path: Path, page_lines: int, ledger_toml: str) -> None:
    """Small pages are staged in the main process, big ones (500 lines or more) in the workers;
    on each ledger backend."""
    (tmp_path / "in").mkdir()
    (tmp_path / "conf.toml").write_text(
        f'{ledger_toml}[sync]\nbatch_size = 10\n'
        f'[sources.onestop]\nadapter = "caselog"\nfolder = "in"\npage_lines = {page_lines}\nsettle_seconds = 0\n'
        '[sinks.evidence]\nadapter = "jsonl"\npath = "out/evidence.jsonl"\n'
        '[sinks.history]\nadapter = "ledger"\npath = "history.db"\n', encoding="utf-8")
    rnd = random.Random(9)
    written: list[dict] = []
    kills = 0
    for round_number in range(12):
        written += write_cases(tmp_path / f"in/part-{round_number % 4}.jsonl", 400, seed=round_number)
        if round_number % 3 == 2:  # the same dossiers again, grown by one event: new revisions
            with open(tmp_path / "in/part-0.jsonl", "ab") as out:
                for record in written[:20]:
                    channel = "online" if record.get("channel") != "online" else "direct"  # changes the evidence
                    grown = dict(record, channel=channel, events=record["events"] + [
                        {"at": f"2026-10-{10 + round_number:02d}T09:00:00+07:00", "kind": "apology_issued", "reason": "r"}])
                    out.write(orjson.dumps(grown) + b"\n")
        process = start_sync(tmp_path)
        time.sleep(rnd.uniform(0.25, 1.1))
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            kills += 1
        process.wait()
    wait_for_locks(tmp_path, "source:onestop", "sink:evidence", "sink:history")
    final = start_sync(tmp_path)
    assert final.wait(timeout=300) == 0
    assert kills >= 4, "the sync finished before it could be killed: the test proves nothing"

    with ledger_db(tmp_path) as db:
        revisions = dict(db.execute("SELECT dossier, revision FROM dossiers").fetchall())
        assert db.execute("SELECT min(delivered_seq) = (SELECT max(seq) FROM revisions) FROM sinks").fetchone()[0] == 1
    with sqlite3.connect(tmp_path / "history.db") as db:
        history = db.execute("SELECT dossier, revision FROM evidence").fetchall()
    expected = sorted((dossier, r) for dossier, last in revisions.items() for r in range(1, last + 1))
    lines = [json.loads(line) for line in (tmp_path / "out/evidence.jsonl").read_text().splitlines()]
    in_file = sorted((line["dossier"], line["revision"]) for line in lines)
    assert in_file == expected  # every revision once in the JSON Lines sink
    assert sorted(history) == expected  # and once in the ledger's evidence table
    assert set(revisions) == {record["dossier"] for record in written}  # nothing lost
    assert max(revisions.values()) >= 2
