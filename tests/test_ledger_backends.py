"""The ledger on both backends: schema versions, named locks, the outbox gap, copying between them."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from isobridge.core import ledger_schema
from isobridge.core.errors import LockHeld
from isobridge.core.ledger import Ledger
from isobridge.core.ledger_copy import CopyError, copy_ledger
from isobridge.core.ledger_db import PostgresDatabase, SQLiteDatabase
from isobridge.core.settings import LedgerSettings


def open_ledger(backend: str, tmp_path: Path, url: str | None) -> Ledger:
    """A new ledger on `backend` (its schema made)."""
    return Ledger.open(LedgerSettings(url=url) if backend == "postgresql" else LedgerSettings(path=tmp_path / "l.db"))


@pytest.fixture
def target(backend, request, tmp_path) -> LedgerSettings:
    """The settings of a new ledger on `backend` (PostgreSQL: migrated)."""
    if backend == "sqlite":
        return LedgerSettings(path=tmp_path / "l.db")
    url = request.getfixturevalue("pg_url")
    db = PostgresDatabase(url)
    ledger_schema.migrate(db)
    db.close()
    return LedgerSettings(url=url)


def test_a_postgresql_ledger_without_schema_is_refused_until_migrated(pg_url) -> None:
    with pytest.raises(ledger_schema.SchemaError, match="run `isobridge state migrate`"):
        Ledger(PostgresDatabase(pg_url))
    db = PostgresDatabase(pg_url)
    assert ledger_schema.migrate(db) == (None, ledger_schema.SCHEMA_VERSION)
    assert ledger_schema.migrate(db) == (ledger_schema.SCHEMA_VERSION, ledger_schema.SCHEMA_VERSION)
    Ledger(db).close()


@pytest.mark.parametrize("version, words", [(2, "is older than this isobridge's 3: run `isobridge state migrate`"),
                                            (4, "was made by a newer isobridge")])
def test_a_schema_of_another_version_is_refused_with_what_to_do(target, version, words) -> None:
    ledger = Ledger.open(target)
    ledger.db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
    ledger.close()
    if version < ledger_schema.SCHEMA_VERSION and not target.shared:  # the embedded ledger migrates itself
        assert Ledger.open(target).meta("schema_version") == str(ledger_schema.SCHEMA_VERSION)
        return
    with pytest.raises(ledger_schema.SchemaError, match=words.replace("(", r"\(")):
        Ledger.open(target)


def test_named_locks_exclude_another_process_and_are_free_once_released(target) -> None:
    first, second = Ledger.open(target), Ledger.open(target)
    first.acquire("source:a")
    second.acquire("source:b")  # another source: at the same time
    if target.shared:  # two connections are two holders; a SQLite lock is held per process
        with pytest.raises(LockHeld, match="the sync of source 'a' is held"):
            second.acquire("source:a")
        first.release("source:a")
        second.acquire("source:a", wait_seconds=1)
        assert {name for name, *_ in second.locks()} == {"source:a", "source:b"}


def test_a_lock_released_while_waiting_is_taken(target) -> None:
    if not target.shared:
        pytest.skip("a SQLite lock is one row per process: two ledgers in one process share it")
    first, second = Ledger.open(target), Ledger.open(target)
    first.acquire("sink:evidence")
    threading.Timer(0.5, first.release, args=("sink:evidence",)).start()
    started = time.monotonic()
    second.acquire("sink:evidence", wait_seconds=10)
    assert 0.4 < time.monotonic() - started < 5


def test_a_killed_holders_postgresql_lock_ends_with_its_connection(pg_url) -> None:
    settings = LedgerSettings(url=pg_url)
    db = PostgresDatabase(pg_url)
    ledger_schema.migrate(db)
    holder = Ledger(db)
    holder.acquire("source:a")
    other = Ledger.open(settings)
    with pytest.raises(LockHeld):
        other.acquire("source:a")
    holder.db.db.close()  # as a killed process's connection: no release, no row deleted
    other.acquire("source:a", wait_seconds=5)  # the server ends the session a moment after


def test_the_outbox_gap_two_writers_committing_out_of_order_skip_nothing(target) -> None:
    """Writer A appends a revision (taking sequence number n) and commits late; writer B appends
    after it and would commit first. A sink delivering in between must never move its mark past
    A's revision before A's commit: B waits for A, so revisions commit in sequence order."""
    a, reader = Ledger.open(target), Ledger.open(target)
    reader.sink("evidence")  # a sink that starts at the log's (empty) end
    b_done = threading.Event()

    def write_b() -> None:
        b = Ledger.open(target)
        with b.transaction() as db:
            b.append_revisions(db, [("B", 1)])
        b_done.set()

    with a.transaction() as db:
        a.append_revisions(db, [("A", 1)])
        thread = threading.Thread(target=write_b)
        thread.start()
        time.sleep(0.5)
        assert not b_done.is_set()  # B cannot commit before A
        assert reader.waiting("evidence", 0, 10) == []  # nothing visible yet: no mark can pass A
    thread.join(timeout=30)
    assert b_done.is_set()
    log = reader.waiting("evidence", 0, 10)
    assert [(dossier, revision) for _, dossier, revision in log] == [("A", 1), ("B", 1)]
    assert log[0][0] < log[1][0]


def test_a_dossier_changed_by_another_writer_since_staging_is_not_overwritten(target) -> None:
    ledger = Ledger.open(target)
    row = ("D1", "a", b"{}", "h1", 0, None, None, "pending", None, None)
    with ledger.transaction() as db:
        assert ledger.store_dossiers(db, [row], {"D1": None}) == set()
    with ledger.transaction() as db:  # staged before D1 was stored: stale
        assert ledger.store_dossiers(db, [("D1", "b", b"{}", "h2", 0, None, None, "pending", None, None)],
                                     {"D1": None}) == {"D1"}
    assert ledger.records(["D1"])["D1"][1] == "h1"
    with ledger.transaction() as db:  # staged against what is stored: written
        assert ledger.store_dossiers(db, [("D1", "b", b"{}", "h2", 0, None, None, "pending", None, None)],
                                     {"D1": ("h1", 0)}) == set()
    assert ledger.records(["D1"])["D1"][1] == "h2"


def _filled(ledger: Ledger) -> None:
    from isobridge.core.ledger import pack_blob
    from isobridge.core.runs import QuarantineEntry, RunReport

    ledger.pseudonym_key()
    run_id, _ = ledger.start_run(["a"], ["source:a"])
    with ledger.transaction() as db:
        rows = [(f"D{i}", "a", pack_blob(b'{"dossier": "D%d"}' % i), f"h{i}", 1, pack_blob(b'{"verdict": "on_time"}'),
                 "on_time", "evaluated", None, f"k{i}") for i in range(50)]
        ledger.store_dossiers(db, rows, {})
        ledger.append_revisions(db, [(f"D{i}", 1) for i in range(50)])
        ledger.set_checkpoint(db, "a", '{"offset": 42}')
        ledger.quarantine(db, QuarantineEntry("a", "bad-1", "map", '{"name": "Nguyễn Văn A"}', ["no dossier"]), run_id)
    ledger.sink("evidence", from_start=True)
    ledger.acknowledge("evidence", 20, {"offset": 1234})
    ledger.finish_run(run_id, RunReport(outcome="ok", records=51))


def test_state_copy_there_and_back_keeps_everything(target, tmp_path) -> None:
    original = Ledger.open(LedgerSettings(path=tmp_path / "original.db")) if target.shared else Ledger.open(target)
    _filled(original)
    there = Ledger.open(target) if target.shared else Ledger(SQLiteDatabase(tmp_path / "there.db"))
    checks = copy_ledger(original.db, there.db)
    assert all(check.same for check in checks) and {c.table: c.rows for c in checks}["dossiers"] == 50
    back = Ledger(SQLiteDatabase(tmp_path / "back.db"))
    copy_ledger(there.db, back.db)
    for copy in (there, back):
        assert copy.checkpoint("a") == '{"offset": 42}'
        assert copy.sink("evidence") == (20, {"offset": 1234})
        assert copy.pseudonym_key() == original.pseudonym_key()
        assert copy.quarantined()[0].payload == '{"name": "Nguyễn Văn A"}'  # sealed, and opens with the copied key
        assert copy.evidence("D7") == {"verdict": "on_time"}
        run_id, _ = copy.start_run(["a"])  # numbering continues after the copied runs
        assert run_id == 2
        with copy.transaction() as db:
            copy.append_revisions(db, [("D1", 2)])
        assert copy.last_seq() == 51
    with pytest.raises(CopyError, match="is not empty"):
        copy_ledger(original.db, back.db)


def _deployment(folder: Path, ledger_toml: str) -> Path:
    from test_sync_job import write_cases

    (folder / "in").mkdir()
    write_cases(folder / "in/a.jsonl", 40)
    (folder / "conf.toml").write_text(
        f'{ledger_toml}[sync]\nbatch_size = 15\n'
        '[sources.onestop]\nadapter = "caselog"\nfolder = "in"\npage_lines = 10\nsettle_seconds = 0\n'
        '[sinks.evidence]\nadapter = "jsonl"\npath = "out/evidence.jsonl"\n', encoding="utf-8")
    return folder / "conf.toml"


def _cli(*arguments: str) -> int:
    from isobridge.core.cli import main

    return main(list(arguments))


def test_state_migrate_then_sync_on_postgresql(tmp_path, pg_url, capsys) -> None:
    config = _deployment(tmp_path, f'[ledger]\nurl = "{pg_url}"\n')
    assert _cli("sync", "--config", str(config)) == 1
    assert "no isobridge schema yet: run `isobridge state migrate`" in capsys.readouterr().err
    assert _cli("state", "migrate", "--config", str(config)) == 0
    assert f"ledger {pg_url}: schema created (version 3)" in capsys.readouterr().out
    assert _cli("state", "migrate", "--config", str(config)) == 0
    assert "schema up to date (version 3)" in capsys.readouterr().out
    assert _cli("sync", "--config", str(config)) == 0
    assert len((tmp_path / "out/evidence.jsonl").read_text().splitlines()) == 40


def test_a_deployment_moved_to_postgresql_by_state_copy_goes_on_where_it_was(tmp_path, pg_url, capsys) -> None:
    config = _deployment(tmp_path, '[ledger]\npath = "ledger.db"\n')
    assert _cli("sync", "--config", str(config)) == 0
    assert _cli("state", "copy", "--to", pg_url, "--config", str(config)) == 0
    shown = capsys.readouterr().out
    assert "dossiers\t40 rows" in shown and f"ledger copied to {pg_url}" in shown
    config.write_text(config.read_text().replace('path = "ledger.db"', f'url = "{pg_url}"'), encoding="utf-8")
    from test_sync_job import write_cases

    write_cases(tmp_path / "in/a.jsonl", 5, seed=9)
    assert _cli("sync", "--config", str(config)) == 0
    assert "sync ok: 5 records" in capsys.readouterr().err  # the checkpoint came along: only the new lines
    lines = (tmp_path / "out/evidence.jsonl").read_text().splitlines()
    assert len(lines) == 45 == len(set(lines))  # the delivery mark came along: nothing sent twice


def test_a_sync_whose_sink_is_held_delivers_once_the_holder_lets_go(tmp_path, pg_url, capsys) -> None:
    config = _deployment(tmp_path, f'[ledger]\nurl = "{pg_url}"\n')
    assert _cli("state", "migrate", "--config", str(config)) == 0
    holder = Ledger.open(LedgerSettings(url=pg_url))
    holder.acquire("sink:evidence")  # another process delivering to the sink
    threading.Timer(1.0, holder.close).start()
    assert _cli("sync", "--config", str(config)) == 0
    assert len((tmp_path / "out/evidence.jsonl").read_text().splitlines()) == 40  # delivered after waiting
    holder = Ledger.open(LedgerSettings(url=pg_url))
    assert holder.backlog() == 0 and not holder.locks()


def test_deliver_sends_what_waits_in_the_log(tmp_path, backend, ledger_toml, capsys) -> None:
    config = _deployment(tmp_path, ledger_toml)
    assert _cli("sync", "--config", str(config)) == 0
    with open(config, "a") as conf:
        conf.write('[sinks.late]\nadapter = "jsonl"\npath = "out/late.jsonl"\nbackfill = true\n')
    assert _cli("deliver", "--sink", "late", "--config", str(config)) == 0
    assert "deliver ok" in capsys.readouterr().err
    assert len((tmp_path / "out/late.jsonl").read_text().splitlines()) == 40
    assert _cli("deliver", "--sink", "nope", "--config", str(config)) == 1
    assert "no sink 'nope'" in capsys.readouterr().err


def test_two_runs_each_holding_the_sink_the_other_waits_for_both_finish(tmp_path, pg_url, capsys) -> None:
    """A sync holds sink `evidence` and waits at its end for `history`; another process holds
    `history` and waits for `evidence`. The sync lets go of its own sinks before it waits, so both
    go on (before, each waited for the other until the lease ran out)."""
    from test_sync_job import write_cases

    config = _deployment(tmp_path, f'[ledger]\nurl = "{pg_url}"\n')
    write_cases(tmp_path / "in/b.jsonl", 560, seed=4)  # 60 pages: the sync holds `evidence` a while
    config.write_text(config.read_text().replace("[sync]\n", "[sync]\nlock_lease_minutes = 0.5\n")
                      + '[sinks.history]\nadapter = "jsonl"\npath = "out/history.jsonl"\n', encoding="utf-8")
    assert _cli("state", "migrate", "--config", str(config)) == 0
    holding, done = threading.Event(), threading.Event()

    def other_process() -> None:
        other = Ledger.open(LedgerSettings(url=pg_url))
        other.acquire("sink:history")
        holding.set()
        while "sink:evidence" not in {name for name, *_ in other.locks()}:
            time.sleep(0.05)
        other.acquire("sink:evidence", wait_seconds=50)  # held by the sync until it lets go
        other.close()
        done.set()

    thread = threading.Thread(target=other_process)
    thread.start()
    assert holding.wait(10)
    started = time.monotonic()
    assert _cli("sync", "--config", str(config)) == 0
    assert time.monotonic() - started < 25 and done.wait(10)  # not the lease's 30 s wait
    thread.join(10)
    latest = []
    for sink in ("evidence", "history"):
        lines = [json.loads(line) for line in (tmp_path / f"out/{sink}.jsonl").read_text().splitlines()]
        latest.append({line["dossier"]: line["revision"] for line in lines})  # the last line of each wins
    assert latest[0] == latest[1] and len(latest[0]) >= 590  # (two generated files share a few codes)


def test_a_sink_held_past_the_lease_is_named_in_the_summary(tmp_path, pg_url, capsys) -> None:
    """Revisions a sync could not deliver (the sink's lock held past the lease) wait in the ledger,
    and the run's summary line says so: nothing waits silently."""
    config = _deployment(tmp_path, f'[ledger]\nurl = "{pg_url}"\n')
    config.write_text(config.read_text().replace("[sync]\n", "[sync]\nlock_lease_minutes = 0.02\n"), encoding="utf-8")
    assert _cli("state", "migrate", "--config", str(config)) == 0
    holder = Ledger.open(LedgerSettings(url=pg_url))
    holder.acquire("sink:evidence")
    assert _cli("sync", "--config", str(config)) == 0
    err = capsys.readouterr().err
    assert "deliveries wait for sink(s) evidence, held by another process past the lease (40 in the log" in err
    holder.close()
    assert _cli("deliver", "--config", str(config)) == 0
    assert len((tmp_path / "out/evidence.jsonl").read_text().splitlines()) == 40
