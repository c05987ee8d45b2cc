"""The ledger's bulk writes on PostgreSQL: COPY through a temporary table, or one row at a time
for a role that may not make temporary tables."""

from __future__ import annotations

import pytest

from isobridge.core import ledger_schema
from isobridge.core.ledger import Ledger
from isobridge.core.ledger_db import PostgresDatabase

psycopg = pytest.importorskip("psycopg")


def _rows(revision: int, evidence: bytes | None) -> list[tuple]:
    return [(f"D{i}", "a", b"{}", f"h{revision}", revision, evidence, "on_time" if evidence else None,
             "evaluated", None, f"k{revision}") for i in range(3)]


def _written_twice(ledger: Ledger) -> list[tuple]:
    """Store three dossiers, then again with no new evidence (the stored evidence must stay)."""
    with ledger.transaction() as db:
        assert ledger.store_dossiers(db, _rows(1, b"e1"), {}) == set()
        ledger.append_revisions(db, [(f"D{i}", 1) for i in range(3)])
    with ledger.transaction() as db:
        assert ledger.store_dossiers(db, _rows(2, None), {f"D{i}": ("h1", 1) for i in range(3)}) == set()
    rows = ledger.db.execute("SELECT dossier, record_hash, revision, evidence, verdict, record_key"
                             " FROM dossiers ORDER BY dossier").fetchall()
    return [tuple(bytes(value) if isinstance(value, memoryview) else value for value in row) for row in rows]


EXPECTED = [(f"D{i}", "h2", 2, b"e1", "on_time", "k2") for i in range(3)]


@pytest.fixture
def migrated(pg_url) -> str:
    db = PostgresDatabase(pg_url)
    ledger_schema.migrate(db)
    db.close()
    return pg_url


def test_dossiers_are_upserted_through_a_temporary_table(migrated) -> None:
    ledger = Ledger(PostgresDatabase(migrated))
    assert _written_twice(ledger) == EXPECTED
    assert ledger.db.execute("SELECT count(*) FROM revisions").fetchone()[0] == 3
    ledger.close()


def test_a_role_without_temporary_tables_upserts_row_by_row(migrated) -> None:
    with psycopg.connect(migrated, autocommit=True) as admin:
        admin.execute("DROP ROLE IF EXISTS ledger_writer")
        admin.execute("CREATE ROLE ledger_writer LOGIN")
        admin.execute(f'REVOKE TEMPORARY ON DATABASE "{admin.info.dbname}" FROM PUBLIC')
        admin.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ledger_writer")
        admin.execute("GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO ledger_writer")
    url = migrated.replace("isobridge@", "ledger_writer@")
    ledger = Ledger(PostgresDatabase(url))
    assert ledger.db._may_make_temporary_tables() is False
    assert _written_twice(ledger) == EXPECTED
    ledger.close()
    with psycopg.connect(migrated, autocommit=True) as admin:
        admin.execute("DROP OWNED BY ledger_writer")
        admin.execute("DROP ROLE ledger_writer")
