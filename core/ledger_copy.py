"""`isobridge state copy`: move a ledger to another backend (SQLite → PostgreSQL, or back).

Every table is copied row for row, keys and sequence numbers included, so checkpoints, sinks'
delivered marks and states, the revision log, the quarantine (sealed payloads stay sealed: the
pseudonym key travels in the meta table), runs and the blob dictionaries arrive as they were.
Locks are not copied: they belong to running processes, and a copy needs none running. The copy
is then verified: per table, the row count and a hash of every row in key order must be equal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from . import ledger_schema
from .errors import IsobridgeError
from .ledger_db import Database

TABLES = {
    "meta": ("key", ["key", "value"]),
    "checkpoints": ("source", ["source", "cursor", "updated_at"]),
    "dossiers": ("dossier", ["dossier", "source", "record", "record_hash", "revision", "evidence", "verdict",
                             "updated_at", "state", "since", "recheck_at", "record_key"]),
    "revisions": ("seq", ["seq", "dossier", "revision"]),
    "sinks": ("sink", ["sink", "delivered_seq", "state"]),
    "quarantine": ("id", ["id", "source", "key", "stage", "payload", "errors", "at", "run_id"]),
    "runs": ("id", ["id", "started_at", "finished_at", "sources", "outcome", "records", "dossiers", "revisions",
                    "quarantined", "pending", "duration", "error", "holder", "locks"]),
}
"""What is copied: per table, its key (the order rows are compared in) and its columns."""
IDENTITIES = {"revisions": "seq", "quarantine": "id", "runs": "id"}
"""Columns numbered by the database: a PostgreSQL copy continues their numbering after the copied rows."""
BATCH = 2000


class CopyError(IsobridgeError):
    """The ledger cannot be copied there (the target holds data, a sync is running) or the copy differs."""


@dataclass
class TableCheck:
    """One table's row count and content hash, in the source and in the copy."""

    table: str
    rows: int
    digest: str
    copied_rows: int
    copied_digest: str

    @property
    def same(self) -> bool:
        """Whether the copy holds exactly the source's rows."""
        return (self.rows, self.digest) == (self.copied_rows, self.copied_digest)


def _rows(db: Database, table: str) -> Iterator[tuple]:
    key, columns = TABLES[table]
    return db.stream(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {key}")


def _refuse(source: Database, target: Database) -> None:
    held = source.execute("SELECT name, pid, host FROM locks").fetchall()
    if held:
        names = ", ".join(f"{name} (pid {pid} on {host})" for name, pid, host in held)
        raise CopyError(f"ledger {source.where} has locks held: {names}; stop its syncs first"
                        " (or `isobridge state unlock` if they are dead)")
    for table in ("dossiers", "revisions", "checkpoints", "quarantine", "runs"):
        if target.execute(f"SELECT count(*) FROM {table}").fetchone()[0]:
            raise CopyError(f"ledger {target.where} is not empty (its {table} table holds rows): copy into a new one")


def copy_ledger(source: Database, target: Database) -> list[TableCheck]:
    """Copy `source` into the empty `target` (its schema made or brought up to date first) in one
    transaction, then verify both; returns the per-table checks (raises CopyError on a difference)."""
    ledger_schema.check(source)
    ledger_schema.migrate(target)
    _refuse(source, target)
    with target.transaction():
        for table, (_, columns) in TABLES.items():
            _copy_table(source, target, table, columns)
        if target.dialect == "postgresql":
            for table, column in IDENTITIES.items():
                target.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
                               f" coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)")
    checks = [TableCheck(table, *digest(source, table), *digest(target, table)) for table in TABLES]
    wrong = [check.table for check in checks if not check.same]
    if wrong:
        raise CopyError(f"the copy in {target.where} differs from {source.where} in: {', '.join(wrong)}")
    return checks


def _copy_table(source: Database, target: Database, table: str, columns: list[str]) -> None:
    marks = ", ".join("?" * len(columns))
    update = ", ".join(f"{name} = excluded.{name}" for name in columns[1:])
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
    if table == "meta":  # the target's schema version and blob dictionary are there already
        sql += f" ON CONFLICT (key) DO UPDATE SET {update}"
    batch: list[tuple] = []
    for row in _rows(source, table):
        batch.append(tuple(row))
        if len(batch) >= BATCH:
            target.executemany(sql, batch)
            batch = []
    if batch:
        target.executemany(sql, batch)


def digest(db: Database, table: str) -> tuple[int, str]:
    """(row count, BLAKE2b of every row in key order) of one table; values hashed by type and
    content, so equal rows hash alike on SQLite and PostgreSQL."""
    hasher, count = hashlib.blake2b(digest_size=16), 0
    for row in _rows(db, table):
        count += 1
        for value in row:
            hasher.update(_canonical(value))
        hasher.update(b"\x1e")
    return count, hasher.hexdigest()


def _canonical(value: object) -> bytes:
    if value is None:
        return b"N\x1f"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return b"B" + bytes(value).hex().encode() + b"\x1f"
    if isinstance(value, float):
        return b"F" + repr(value).encode() + b"\x1f"
    return (b"I" if isinstance(value, int) else b"T") + str(value).encode() + b"\x1f"
