"""The ledger on both backends: schema versions, named locks, the outbox gap, copying between them."""

from __future__ import annotations

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
    other.acquire("source:a")


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
