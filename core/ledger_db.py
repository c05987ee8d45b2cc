"""The ledger's database connection: the embedded SQLite file, or a shared PostgreSQL database.

Both speak the same SQL (written once, with `?` placeholders, `ON CONFLICT` upserts and
`RETURNING`); what differs is here:

- how a write transaction excludes other writers: SQLite's `BEGIN IMMEDIATE` takes the whole
  database; PostgreSQL takes row-level transaction locks on the dossiers a page writes
  (`lock_dossiers`, in sorted order, so two writers never deadlock) and one on the revision log
  (`lock_revision_log`, held from the first appended revision to the commit, so revisions commit
  in the order of their sequence numbers: a sink never skips one committed later with a smaller
  number);
- named locks (a source's sync, a sink's delivery): a PostgreSQL session advisory lock, which the
  server releases when the holder's connection ends (a killed pod), or the SQLite ledger's leased
  rows (see `Ledger.acquire`).
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .errors import ConfigurationError, UnavailableError

if TYPE_CHECKING:
    from .settings import LedgerSettings

NAMED_LOCKS, DOSSIER_LOCKS, REVISION_LOG_LOCK = 7300, 7301, 7302
"""The advisory lock spaces (first key) of isobridge's PostgreSQL locks."""
_STREAMS = itertools.count()
KEEPALIVE = "-c tcp_keepalives_idle=60 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=6"
"""Server-side TCP keepalive of every ledger session (settable per session): a holder whose host
is lost (no FIN ever comes) is found dead and its advisory locks released in about two minutes."""


class Database(Protocol):
    """What the ledger needs of a connection (sqlite3's shape: `execute` returns a cursor)."""

    dialect: str
    where: str

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; a cursor to fetch from (`fetchone`, `fetchall`, iteration, `rowcount`)."""

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement per row."""

    def stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple]:
        """The rows of a query, fetched a batch at a time (memory stays bounded)."""

    def insert(self, table: str, columns: Sequence[str], rows: list[Sequence[Any]], conflict: str = "") -> None:
        """Insert rows (values of `columns`) into `table`; `conflict`: an `ON CONFLICT` clause for
        rows already there (then no two rows may have the same key)."""

    def transaction(self) -> Any:
        """A context manager: one write transaction, committed whole or rolled back."""

    def lock_dossiers(self, codes: list[str]) -> None:
        """Inside a transaction: exclude other writers of these dossiers until it ends."""

    def lock_revision_log(self) -> None:
        """Inside a transaction: exclude other appenders to the revision log until it ends."""

    def try_named_lock(self, name: str) -> bool | None:
        """Take the session lock `name` without waiting: True, False (held), None (no such locks)."""

    def release_named_lock(self, name: str) -> None:
        """Release the session lock `name` (if held)."""

    def end_named_lock_holders(self) -> int:
        """End the other sessions holding named locks (an operator's `state unlock`); how many."""

    def descriptors(self) -> tuple[int, ...]:
        """The file descriptors a forked worker must close (see `staging.init_worker`)."""

    def close(self) -> None:
        """Close the connection."""


class SQLiteDatabase:
    """The embedded ledger: one SQLite file in WAL mode."""

    dialect = "sqlite"

    def __init__(self, path: Path, read_only: bool = False):
        self.where = str(path)
        if read_only:
            self.db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=30)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self.db.execute("PRAGMA page_size=16384")  # dossier rows carry two blobs; no effect once created
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Run one statement."""
        return self.db.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement per row."""
        self.db.executemany(sql, rows)

    def stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple]:
        """The rows of a query (SQLite steps through them as they are read)."""
        yield from self.db.execute(sql, params)

    def insert(self, table: str, columns: Sequence[str], rows: list[Sequence[Any]], conflict: str = "") -> None:
        """One `INSERT` per row (see `Database.insert`)."""
        self.db.executemany(insert_sql(table, columns, conflict), rows)

    @contextmanager
    def transaction(self) -> Iterator["SQLiteDatabase"]:
        """An immediate transaction: it holds the database's write lock from its start."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def lock_dossiers(self, codes: list[str]) -> None:
        """Nothing to do: the immediate transaction excludes every other writer."""

    def lock_revision_log(self) -> None:
        """Nothing to do: the immediate transaction excludes every other writer."""

    def try_named_lock(self, name: str) -> bool | None:
        """None: the SQLite ledger keeps its named locks as leased rows."""
        return None

    def release_named_lock(self, name: str) -> None:
        """Nothing to release (see `try_named_lock`)."""

    def end_named_lock_holders(self) -> int:
        """None to end: the leased rows are the locks."""
        return 0

    def descriptors(self) -> tuple[int, ...]:
        """None: a worker never touches its parent's SQLite connection, whose locks are per process."""
        return ()

    def close(self) -> None:
        """Close the connection."""
        self.db.close()


def insert_sql(table: str, columns: Sequence[str], conflict: str = "") -> str:
    """The `INSERT` of one row of `columns` (`?` placeholders), with an `ON CONFLICT` clause or none."""
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({','.join('?' * len(columns))}) {conflict}"


@lru_cache(maxsize=256)
def postgres_sql(sql: str) -> str:
    """The ledger's SQL for psycopg: `?` placeholders become `%s`, literal `%` is doubled."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresDatabase:
    """A shared ledger: one PostgreSQL database, through psycopg 3 (`isobridge[postgres]`)."""

    dialect = "postgresql"

    def __init__(self, url: str, password: str | None = None, read_only: bool = False):
        try:
            import psycopg
        except ImportError:
            raise ConfigurationError("ledger.url needs PostgreSQL support: pip install 'isobridge[postgres]'") from None
        self.where, self._psycopg = url, psycopg
        # the server probes an idle connection after 60 s: a lost host's locks end within about 2 minutes
        options = KEEPALIVE + (" -c default_transaction_read_only=on" if read_only else "")
        try:
            self.db = psycopg.connect(url, password=password, autocommit=True, options=options,
                                      application_name="isobridge", connect_timeout=30)
        except psycopg.Error as exc:
            raise UnavailableError(f"ledger {url}: {_first_line(exc)}") from None
        # psycopg prepares a statement run often; a cached generic plan made while the tables were
        # small keeps scanning them whole once they are large (a sync's lookups grew 100× slower):
        # plan each execution for the table as it is now
        self.db.execute("SET plan_cache_mode = force_custom_plan")
        self._held: set[str] = set()
        self._temporary: bool | None = None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement."""
        return self.db.execute(postgres_sql(sql), params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement per row (pipelined by psycopg)."""
        with self.db.cursor() as cursor:
            cursor.executemany(postgres_sql(sql), list(rows))

    def stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple]:
        """The rows of a query through a server-side cursor, 2 000 at a time."""
        with self.db.transaction(), self.db.cursor(name=f"isobridge_stream_{next(_STREAMS)}") as cursor:
            cursor.itersize = 2000
            cursor.execute(postgres_sql(sql), params)
            yield from cursor

    def insert(self, table: str, columns: Sequence[str], rows: list[Sequence[Any]], conflict: str = "") -> None:
        """`COPY` the rows in (one `INSERT` each cost a 200 000-dossier sync 4 s more CPU here and
        3 s more in the server): straight into the table, or with `conflict` into this session's
        temporary table, then one `INSERT … SELECT` applies the clause (see `Database.insert`). A
        role that may not make temporary tables (a managed database may deny it) upserts row by row."""
        if not rows:
            return
        if conflict and not self._may_make_temporary_tables():
            self.executemany(insert_sql(table, columns, conflict), rows)
            return
        names, target = ", ".join(columns), table
        if conflict:
            target = f"isobridge_incoming_{table}"
            self.db.execute(f"CREATE TEMP TABLE IF NOT EXISTS {target} ON COMMIT DELETE ROWS AS SELECT {names}"
                            f" FROM {table} WITH NO DATA; DELETE FROM {target}")
        with self.db.cursor() as cursor, cursor.copy(f"COPY {target} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        if conflict:  # WHERE true: `ON CONFLICT` would otherwise read as a join's `ON`
            self.db.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {target} WHERE true {postgres_sql(conflict)}")

    def _may_make_temporary_tables(self) -> bool:
        if self._temporary is None:
            self._temporary = bool(self.db.execute(
                "SELECT has_database_privilege(current_database(), 'TEMPORARY')").fetchone()[0])
        return self._temporary

    @contextmanager
    def transaction(self) -> Iterator["PostgresDatabase"]:
        """A transaction (READ COMMITTED); writers exclude each other with `lock_dossiers` and
        `lock_revision_log`."""
        with self.db.transaction():
            yield self

    def lock_dossiers(self, codes: list[str]) -> None:
        """Transaction-level advisory locks on the dossiers, taken in key order (no deadlock)."""
        if codes:
            self.db.execute(
                "SELECT pg_advisory_xact_lock(%s, k) FROM (SELECT DISTINCT hashtext(d) AS k"
                " FROM unnest(%s::text[]) AS d ORDER BY k) AS keys", (DOSSIER_LOCKS, codes))

    def lock_revision_log(self) -> None:
        """A transaction-level advisory lock on the revision log, held until commit."""
        self.db.execute("SELECT pg_advisory_xact_lock(%s, 0)", (REVISION_LOG_LOCK,))

    def try_named_lock(self, name: str) -> bool | None:
        """A session advisory lock: the server drops it with the connection (a killed process)."""
        if name in self._held:
            return True
        got = self.db.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", (NAMED_LOCKS, name)).fetchone()[0]
        if got:
            self._held.add(name)
        return bool(got)

    def release_named_lock(self, name: str) -> None:
        """Release a session advisory lock this connection holds."""
        if name in self._held:
            self.db.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (NAMED_LOCKS, name))
            self._held.discard(name)

    def end_named_lock_holders(self) -> int:
        """End the other sessions holding isobridge's named locks: the server releases their locks."""
        rows = self.db.execute(  # waiting (up to 5 s each) until they are gone: their locks are free after
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s"
            " AND pid <> pg_backend_pid()", (NAMED_LOCKS,)).fetchall()
        return sum(1 for (ended,) in rows if ended)

    def descriptors(self) -> tuple[int, ...]:
        """The connection's socket: a worker keeping a copy open would keep the session (and its
        locks) alive after the sync process is killed."""
        return (self.db.fileno(),)

    def close(self) -> None:
        """Close the connection (which releases its advisory locks)."""
        self.db.close()


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def connect(settings: "LedgerSettings", read_only: bool = False) -> SQLiteDatabase | PostgresDatabase:
    """A connection to the configured ledger."""
    if settings.url:
        password = settings.password.get_secret_value() if settings.password else None
        return PostgresDatabase(settings.url, password, read_only)
    return SQLiteDatabase(Path(settings.path), read_only)
