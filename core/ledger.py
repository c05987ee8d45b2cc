"""The ledger: everything a sync must remember, in the embedded SQLite file (WAL) or a shared
PostgreSQL database (`ledger_db.py`; the schema and its versions in `ledger_schema.py`).

- `checkpoints`: per source, the cursor to resume after;
- `dossiers`: per dossier, the merged case log, its hash, the latest evidence and its revision, the
  source and record key that last changed it and when;
- `revisions`: the log of evidence revisions in the order they were made (`seq`);
- `sinks`: per sink, the `seq` up to which it acknowledged every revision (its delivered
  idempotency keys are exactly the log's keys up to there, less those it refused, which sit in
  the quarantine) and the small state it keeps (e.g. a file's committed offset);
- `quarantine`: records that could not be processed, with original payload and every error;
- `runs`: run history; `locks`: who holds each named lock (a source's sync, a sink's delivery);
  `meta`: e.g. the pseudonym key and the schema version.
"""

from __future__ import annotations

import base64
import os
import secrets
import socket
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

try:  # the standard library's from Python 3.14 on; its backport before
    from compression import zstd  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the Python version
    from backports import zstd  # type: ignore[import-not-found,no-redef]

from . import ledger_schema
from .errors import IsobridgeError, LockHeld
from .ledger_db import Database, SQLiteDatabase, connect
from .logs import redact
from .merge import waiting_for
from .privacy import SEALED, PayloadSeal
from .runs import QuarantineEntry, RunReport

if TYPE_CHECKING:
    from .settings import LedgerSettings

KILLED = "killed"
"""The outcome of a run whose process ended without finishing it (found when the lock is next taken)."""


StoredDossier = tuple[bytes, str, int, "bytes | None"]
"""A stored dossier: (merged record JSON, its hash, revision, latest evidence or None). The record is
plain JSON; the evidence is as stored (see `plain_blob`): most lookups only ask whether there is one."""

BLOB_DICTIONARY = Path(__file__).parent / "data" / "ledger-blobs.zdict"
"""The shared dictionary new blobs are compressed with, trained (`zstd.train_dict`, 16 kB) on the
merged records and evidence of 3 000 generated dossiers. A changed dictionary gets a new id."""
BLOB_LEVEL = 1
"""zstd level of the stored blobs: the fastest; a higher one saves a few bytes for more CPU."""
ZSTD_FRAME = b"\x28\xb5\x2f\xfd"
"""How a compressed blob starts (a zstd frame); a plain one is a JSON object and starts with `{`."""


class BlobError(IsobridgeError):
    """A stored blob cannot be read (its dictionary is unknown to this ledger)."""


class BlobCodec:
    """How the ledger stores a dossier's merged record and evidence: one zstd frame each,
    compressed with a shared dictionary whose id the frame names (≈ 7× smaller, a few µs each).
    Blobs stored before compression (plain JSON) are read as they are."""

    def __init__(self, dictionary: bytes):
        self.dictionaries: dict[int, zstd.ZstdDict] = {}
        self.current = self.learn(dictionary)
        self._compressor = zstd.ZstdCompressor(BLOB_LEVEL, zstd_dict=self.current)

    def learn(self, dictionary: bytes) -> zstd.ZstdDict:
        """Know a dictionary (e.g. one a ledger's meta table holds), to read blobs made with it."""
        known = zstd.ZstdDict(dictionary)
        return self.dictionaries.setdefault(known.dict_id, known)

    def pack(self, plain: bytes) -> bytes:
        """The stored form of a JSON blob."""
        return self._compressor.compress(plain, zstd.ZstdCompressor.FLUSH_FRAME)

    def plain(self, stored: bytes) -> bytes:
        """The JSON of a stored blob, compressed or (written before compression) plain."""
        if stored[:4] != ZSTD_FRAME:
            return stored
        dictionary = self.dictionaries.get(zstd.get_frame_info(stored).dictionary_id)
        if dictionary is None:
            raise BlobError(f"a ledger blob was compressed with dictionary"
                            f" {zstd.get_frame_info(stored).dictionary_id}, which this ledger does not hold")
        return zstd.ZstdDecompressor(dictionary.as_digested_dict).decompress(stored)

    def same(self, stored: bytes, plain: bytes, packed: bytes) -> bool:
        """Whether a stored blob holds `plain` (whose stored form is `packed`), opening it only
        when neither the bytes nor the size in its frame header tell."""
        if stored[:4] != ZSTD_FRAME:
            return stored == plain
        if stored == packed:
            return True
        if zstd.get_frame_info(stored).decompressed_size != len(plain):
            return False
        return self.plain(stored) == plain


BLOBS = BlobCodec(BLOB_DICTIONARY.read_bytes())
"""The codec of every ledger blob in this process (ledgers add the dictionaries of their meta table)."""


def plain_blob(stored: bytes | None) -> bytes | None:
    """The JSON of a stored record or evidence blob (None stays None): every reader goes through here."""
    return None if stored is None else BLOBS.plain(stored)


def pack_blob(plain: bytes | None) -> bytes | None:
    """The stored form of a record or evidence JSON blob (None stays None)."""
    return None if plain is None else BLOBS.pack(plain)


def stored_dossiers(db: Database, codes: Iterable[str]) -> dict[str, StoredDossier]:
    """Stored (record, hash, revision, evidence) of the given dossiers, on any connection."""
    found: dict[str, StoredDossier] = {}
    codes = list(codes)
    for start in range(0, len(codes), 500):
        part = codes[start : start + 500]
        marks = ",".join("?" * len(part))
        for row in db.execute(
            f"SELECT dossier, record, record_hash, revision, evidence FROM dossiers"
            f" WHERE dossier IN ({marks})", part
        ):
            found[row[0]] = (BLOBS.plain(row[1]), row[2], row[3], row[4])
    return found


DOSSIER_COLUMNS = ("dossier", "source", "record", "record_hash", "revision", "evidence", "verdict", "state",
                   "recheck_at", "record_key", "updated_at", "since")
DOSSIER_UPSERT = (
    "ON CONFLICT (dossier) DO UPDATE SET"
    " source=excluded.source, record=excluded.record, record_hash=excluded.record_hash,"
    " record_key=coalesce(excluded.record_key, dossiers.record_key),"
    " revision=excluded.revision, evidence=coalesce(excluded.evidence, dossiers.evidence),"
    " verdict=coalesce(excluded.verdict, dossiers.verdict), state=excluded.state,"
    " recheck_at=excluded.recheck_at, updated_at=excluded.updated_at")
"""How a stored dossier row is written: a new one inserted, a stored one updated (`since` kept)."""


def _distinct(rows: list[tuple]) -> Iterator[list[tuple]]:
    """Rows in order, in runs without two rows of one dossier (an upsert writes each once)."""
    run: list[tuple] = []
    seen: set[str] = set()
    for row in rows:
        if row[0] in seen:
            yield run
            run, seen = [], set()
        run.append(row)
        seen.add(row[0])
    if run:
        yield run


def _context(source: str, key: str, stage: str) -> str:
    """What a sealed payload is bound to: its quarantine entry."""
    return f"{source}\x1f{key}\x1f{stage}"


def checkpoint_notes(cursor: str | None) -> list[str]:
    """The notes of a cursor (see `Ledger.notes`); none when it is not a JSON object."""
    try:
        state = orjson.loads(cursor) if cursor else None
    except orjson.JSONDecodeError:
        return []
    if not isinstance(state, dict):
        return []
    found = _texts(state.get("notes"))
    for name, entry in state.items():
        if isinstance(entry, dict):
            found.extend(f"{name}: {note}" for note in _texts(entry.get("note")) + _texts(entry.get("notes")))
    return found


def _texts(value: object) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    return [str(item) for item in value if item] if isinstance(value, list) else []


def stamp() -> str:
    """The current UTC instant as `YYYY-MM-DD HH:MM:SS` (how dossier rows keep theirs)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def now_text() -> str:
    """The current UTC instant as ISO 8601."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _lock_words(name: str) -> str:
    """A lock's name in an operator's words."""
    kind, _, what = name.partition(":")
    return {"source": f"the sync of source {what!r}", "sink": f"delivery to sink {what!r}"}.get(kind, f"lock {name!r}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Ledger:
    """Access to the ledger database; every multi-row change is one transaction."""

    def __init__(self, path: "str | Path | Database"):
        self.db: Database = path if hasattr(path, "dialect") else SQLiteDatabase(Path(path))  # type: ignore[arg-type,assignment]
        self.path: Path | None = Path(self.db.where) if self.db.dialect == "sqlite" else None
        """The SQLite file (None for a PostgreSQL ledger)."""
        ledger_schema.check(self.db)
        self._blob_dictionaries()
        self.seal: PayloadSeal | None = None
        """Seals quarantined payloads (see `protect`)."""
        self.held: set[str] = set()
        """The named locks this ledger object holds (see `acquire`)."""

    @classmethod
    def open(cls, settings: "LedgerSettings") -> "Ledger":
        """The configured ledger: the SQLite file `path`, or the PostgreSQL database `url`."""
        return cls(connect(settings))

    @property
    def where(self) -> str:
        """The ledger's name in messages (its file or URL, never a password)."""
        return self.db.where

    def _blob_dictionaries(self) -> None:
        """Keep the blob dictionary in the meta table (`blob_dictionary:<id>`), so that the rows
        it compressed stay readable when a later version ships another; learn every one there."""
        current, kept = BLOBS.current, self.db.execute(
            "SELECT key, value FROM meta WHERE key LIKE 'blob_dictionary:%'").fetchall()
        for _, text in kept:
            BLOBS.learn(base64.b64decode(text))
        if f"blob_dictionary:{current.dict_id}" not in {key for key, _ in kept}:  # write only when missing
            self.db.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT DO NOTHING", (
                f"blob_dictionary:{current.dict_id}", base64.b64encode(current.dict_content).decode()))

    def close(self) -> None:
        """Close the connection (a PostgreSQL ledger's session locks go with it)."""
        self.db.close()

    def transaction(self) -> Any:
        """A write transaction (context manager yielding the connection): all of it commits, or none."""
        return self.db.transaction()

    # -- meta and pseudonym key ---------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        """A value of the meta table."""
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def pseudonym_key(self) -> str:
        """The ledger's own pseudonym key, created at random on first use."""
        with self.transaction() as db:
            db.execute("INSERT INTO meta VALUES ('pseudonym_key', ?) ON CONFLICT DO NOTHING", (secrets.token_hex(32),))
        return self.meta("pseudonym_key")  # type: ignore[return-value]

    # -- locks --------------------------------------------------------------------------------
    def acquire(self, name: str, lease_seconds: float = 1800, wait_seconds: float = 0) -> None:
        """Take the lock `name` (e.g. `source:onestop`, `sink:evidence`), waiting up to
        `wait_seconds` for its holder, or raise LockHeld naming the holder.

        On PostgreSQL the lock is a session advisory lock, released by the server when its
        holder's connection ends. On SQLite it is a leased row: a holder on this host whose process
        is gone, or one on another host whose lease ran out without a heartbeat, is taken over.
        """
        renewed = time.monotonic()
        deadline = renewed + wait_seconds
        while True:
            try:
                return self._take(name, lease_seconds)
            except LockHeld:
                if time.monotonic() >= deadline:
                    raise
            if time.monotonic() - renewed > 30:  # waiting must not let the locks held lapse
                self.heartbeat()
                renewed = time.monotonic()
            time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))

    def _take(self, name: str, lease_seconds: float) -> None:
        host, advisory = socket.gethostname(), self.db.try_named_lock(name)
        try:
            self._record_holder(name, host, advisory, lease_seconds)
        except BaseException:
            if advisory and name not in self.held:
                self.db.release_named_lock(name)
            raise
        self.held.add(name)

    def _record_holder(self, name: str, host: str, advisory: bool | None, lease_seconds: float) -> None:
        with self.transaction() as db:
            row = db.execute("SELECT pid, host, acquired_at FROM locks WHERE name = ?", (name,)).fetchone()
            if advisory is False or (advisory is None and row and row[0] != os.getpid()
                                     and self._alive(row, host, lease_seconds)):
                holder = f"pid {row[0]} on {row[1]}, last seen {row[2]}" if row else "another process"
                raise LockHeld(f"{_lock_words(name)} is held ({holder}); wait for it, or run"
                               " `isobridge state unlock` if it is known to be dead")
            db.execute("INSERT INTO locks VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET pid = excluded.pid,"
                       " host = excluded.host, acquired_at = excluded.acquired_at", (name, os.getpid(), host, now_text()))
            self._close_killed_runs(db, name)

    @staticmethod
    def _close_killed_runs(db: Database, name: str) -> None:
        """Unfinished runs that held the lock just taken lost their process (a run keeps its
        locks from start to finish): mark them killed, naming the holder. A run of a ledger made
        before runs named their locks held the one lock of the whole deployment."""
        db.execute(
            f"UPDATE runs SET outcome = '{KILLED}', error = 'killed: its process ('"
            " || coalesce(holder, 'unknown') || ') ended before the run finished'"
            " WHERE finished_at IS NULL AND outcome IS NULL"
            " AND (locks IS NULL OR ',' || locks || ',' LIKE ?)", (f"%,{name},%",))

    @staticmethod
    def _alive(row: tuple, host: str, lease_seconds: float) -> bool:
        if row[1] == host:
            return _pid_alive(row[0])
        seen = datetime.fromisoformat(row[2])
        return (datetime.now(timezone.utc) - seen).total_seconds() < lease_seconds

    def heartbeat(self, name: str | None = None) -> None:
        """Renew this process's lease on the lock `name` (default: every lock it holds)."""
        for held in [name] if name else sorted(self.held):
            self.db.execute("UPDATE locks SET acquired_at = ? WHERE name = ? AND pid = ?", (now_text(), held, os.getpid()))

    def release(self, name: str) -> None:
        """Release the lock `name` if this process holds it."""
        self.db.execute("DELETE FROM locks WHERE name = ? AND pid = ?", (name, os.getpid()))
        self.db.release_named_lock(name)
        self.held.discard(name)

    def locks(self) -> list[tuple[str, int, str, str]]:
        """Who holds each named lock: (name, pid, host, last seen)."""
        return self.db.execute("SELECT name, pid, host, acquired_at FROM locks ORDER BY name").fetchall()

    def unlock(self) -> int:
        """Remove every lock (an operator's decision that the holders are dead); returns how many.
        On PostgreSQL the sessions still holding isobridge's locks (a hung connection) are ended."""
        ended = self.db.end_named_lock_holders()
        with self.transaction() as db:
            return max(ended, db.execute("DELETE FROM locks").rowcount)

    # -- checkpoints --------------------------------------------------------------------------
    def checkpoint(self, source: str) -> str | None:
        """The committed cursor of `source`."""
        row = self.db.execute("SELECT cursor FROM checkpoints WHERE source = ?", (source,)).fetchone()
        return row[0] if row else None

    def set_checkpoint(self, db: Database, source: str, cursor: str | None) -> None:
        """Record a cursor (inside the caller's transaction)."""
        db.execute("INSERT INTO checkpoints VALUES (?, ?, ?) ON CONFLICT (source) DO UPDATE SET"
                   " cursor = excluded.cursor, updated_at = excluded.updated_at", (source, cursor, now_text()))

    def checkpoints(self) -> list[tuple[str, str | None, str]]:
        """Every source's checkpoint."""
        return self.db.execute("SELECT source, cursor, updated_at FROM checkpoints ORDER BY source").fetchall()

    def notes(self, source: str) -> list[str]:
        """Notes a source keeps in its checkpoint (e.g. a file's unfinished last line): a cursor
        that is a JSON object may hold `notes` (text or list) and, per entry, a `note`."""
        return checkpoint_notes(self.checkpoint(source))

    def reset(self, source: str) -> None:
        """Forget a source's checkpoint: the next sync reads it from the beginning."""
        with self.transaction() as db:
            db.execute("DELETE FROM checkpoints WHERE source = ?", (source,))

    # -- dossiers -----------------------------------------------------------------------------
    def records(self, dossiers: Iterable[str]) -> dict[str, StoredDossier]:
        """Stored (record, hash, revision, evidence) of the given dossiers."""
        return stored_dossiers(self.db, dossiers)

    def store_dossiers(self, db: Database, rows: list[tuple], bases: dict[str, tuple[str, int] | None]) -> set[str]:
        """Inside the caller's transaction, write dossier rows (`staging.Row`'s stored fields and
        the record key) staged against the stored (hash, revision) in `bases` (None: not stored).

        Rows whose dossier another writer changed since they were staged are not written: their
        codes are returned, to be staged again against what is stored now. Until the transaction
        ends no other writer can change the dossiers (SQLite: the write lock; PostgreSQL: a lock
        per dossier), so what this returns stays true until then."""
        codes = [row[0] for row in rows]
        db.lock_dossiers(codes)
        now, stale = stamp(), set()
        for start in range(0, len(codes), 500):
            part = codes[start : start + 500]
            current = {code: (digest, revision) for code, digest, revision in db.execute(
                f"SELECT dossier, record_hash, revision FROM dossiers WHERE dossier IN ({','.join('?' * len(part))})",
                part)}
            stale.update(code for code in part if current.get(code) != bases.get(code))
        for part in _distinct([(*row, now, now) for row in rows if row[0] not in stale]):
            db.insert("dossiers", DOSSIER_COLUMNS, part, DOSSIER_UPSERT)
        return stale

    def append_revisions(self, db: Database, revisions: list[tuple[str, int]]) -> None:
        """Inside the caller's transaction, append (dossier, revision) to the revision log. The
        log stays locked until the transaction ends: revisions commit in sequence order."""
        if revisions:
            db.lock_revision_log()
            db.insert("revisions", ("dossier", "revision"), revisions)

    def due_for_recheck(self, as_of: int, limit: int) -> list[tuple[str, str, StoredDossier]]:
        """Evaluated dossiers whose evidence time alone has changed by `as_of` (an open dossier or
        step passed its due): (dossier, source, stored), at most `limit`."""
        rows = self.db.execute(
            "SELECT dossier, source, record, record_hash, revision, evidence FROM dossiers"
            " WHERE recheck_at <= ? AND state = 'evaluated' ORDER BY recheck_at LIMIT ?", (as_of, limit)).fetchall()
        return [(row[0], row[1], (BLOBS.plain(row[2]), row[3], row[4], row[5])) for row in rows]

    def evidence(self, dossier: str) -> dict | None:
        """The latest evidence of a dossier."""
        row = self.db.execute("SELECT evidence FROM dossiers WHERE dossier = ?", (dossier,)).fetchone()
        return orjson.loads(BLOBS.plain(row[0])) if row and row[0] else None

    def stored(self, dossier: str) -> dict | None:
        """What the ledger keeps of one dossier, for `isobridge explain`: its merged record, latest
        evidence, revision, state, the source that last wrote it and when it was first and last
        stored (UTC), with the key of the record that last changed it (None in a ledger made before
        keys were kept). None when the dossier is not in the ledger."""
        row = self.db.execute(
            "SELECT record, evidence, revision, state, source, coalesce(since, updated_at), updated_at, record_key"
            " FROM dossiers WHERE dossier = ?", (dossier,)).fetchone()
        if row is None:
            return None
        return {"record": orjson.loads(BLOBS.plain(row[0])), "evidence": orjson.loads(BLOBS.plain(row[1])) if row[1] else None,
                "revision": row[2], "state": row[3], "last_source": row[4], "first_stored_at": row[5],
                "last_stored_at": row[6], "record_key": row[7]}

    def iter_evidence(self) -> Iterator[dict]:
        """The latest evidence of every evaluated dossier, streaming."""
        for (blob,) in self.db.stream("SELECT evidence FROM dossiers WHERE evidence IS NOT NULL ORDER BY dossier"):
            yield orjson.loads(BLOBS.plain(blob))

    def iter_records(self, evidence: bool = True) -> Iterator[tuple[str, str, dict, dict | None]]:
        """Every stored dossier, streaming in dossier order: (dossier, state, merged record,
        latest evidence or None). State is `evaluated`, `pending` or `failed` (e.g. no ISO
        procedure in force on its reception date). `evidence=False` leaves the evidence unread
        (None): about half the work, for readers of the records alone."""
        column = "evidence" if evidence else "NULL"
        for dossier, state, record, stored in self.db.stream(
                f"SELECT dossier, state, record, {column} FROM dossiers ORDER BY dossier"):
            yield dossier, state, orjson.loads(BLOBS.plain(record)), orjson.loads(BLOBS.plain(stored)) if stored else None

    def pending(self) -> list[tuple[str, str, list[str], str]]:
        """Every dossier that cannot be evaluated yet, oldest first: (dossier, source, what it
        still lacks (:func:`merge.waiting_for`), stored since)."""
        rows = self.db.execute(
            "SELECT dossier, source, record, coalesce(since, updated_at) FROM dossiers WHERE state = 'pending'"
            " ORDER BY coalesce(since, updated_at), dossier").fetchall()
        return [(dossier, source, waiting_for(orjson.loads(BLOBS.plain(record))), since)
                for dossier, source, record, since in rows]

    def pending_count(self) -> int:
        """Dossiers stored but not yet evaluable (header still missing)."""
        return self.db.execute("SELECT count(*) FROM dossiers WHERE state = 'pending'").fetchone()[0]

    # -- revision log and deliveries ----------------------------------------------------------
    def last_seq(self) -> int:
        """The sequence number of the latest revision (0 when none)."""
        return self.db.execute("SELECT coalesce(max(seq), 0) FROM revisions").fetchone()[0]

    def sink(self, sink: str, from_start: bool = False) -> tuple[int, dict[str, Any]]:
        """(delivered seq, state) of a sink. A sink seen for the first time starts at the log's
        end, or with `from_start` at its beginning (a backfill: the latest revision of every
        dossier is delivered to it, superseded ones skipped)."""
        row = self.db.execute("SELECT delivered_seq, state FROM sinks WHERE sink = ?", (sink,)).fetchone()
        if row:
            return row[0], orjson.loads(row[1])
        start = "0" if from_start else "(SELECT coalesce(max(seq), 0) FROM revisions)"
        with self.transaction() as db:
            db.execute(f"INSERT INTO sinks VALUES (?, {start}, '{{}}') ON CONFLICT DO NOTHING", (sink,))
        return self.sink(sink)

    def waiting(self, sink: str, after: int, limit: int) -> list[tuple[int, str, int]]:
        """Up to `limit` revisions (seq, dossier, revision) after `after`, in log order."""
        return self.db.execute(
            "SELECT seq, dossier, revision FROM revisions WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
        ).fetchall()

    def backlog(self) -> int:
        """Deliveries still waiting, summed over every known sink."""
        return self.db.execute(
            "SELECT CAST(coalesce(sum((SELECT coalesce(max(seq), 0) FROM revisions) - delivered_seq), 0) AS BIGINT)"
            " FROM sinks"
        ).fetchone()[0]

    def evidence_blobs(self, dossiers: list[str]) -> dict[str, tuple[int, bytes]]:
        """Latest (revision, evidence JSON, plain) of the given dossiers."""
        found: dict[str, tuple[int, bytes]] = {}
        for start in range(0, len(dossiers), 500):
            part = dossiers[start : start + 500]
            marks = ",".join("?" * len(part))
            for dossier, revision, blob in self.db.execute(
                f"SELECT dossier, revision, evidence FROM dossiers WHERE dossier IN ({marks})", part):
                found[dossier] = (revision, plain_blob(blob))
        return found

    def acknowledge(self, sink: str, seq: int, state: dict[str, Any],
                    rejected: list[QuarantineEntry] = (), run_id: int | None = None) -> None:
        """Move a sink's delivered mark to `seq`, keep its state, quarantine what it refused: atomically."""
        with self.transaction() as db:
            db.execute("UPDATE sinks SET delivered_seq = ?, state = ? WHERE sink = ?",
                       (seq, orjson.dumps(state).decode(), sink))
            for entry in rejected:
                self.quarantine(db, entry, run_id)

    # -- quarantine ---------------------------------------------------------------------------
    def protect(self, secret: str | None = None) -> None:
        """Seal quarantined payloads under a key derived from `secret` (the settings' pseudonym
        key; None: the ledger's own), and seal those an older version stored in clear."""
        self.seal = PayloadSeal(secret or self.pseudonym_key())
        clear = self.db.execute(
            f"SELECT id, source, key, stage, payload FROM quarantine WHERE substr(payload, 1, {len(SEALED)}) != ?",
            (SEALED,)).fetchall()
        if clear:
            with self.transaction() as db:
                db.executemany("UPDATE quarantine SET payload = ? WHERE id = ?", [
                    (self.seal.seal(payload, _context(source, key, stage)), entry_id)
                    for entry_id, source, key, stage, payload in clear])

    def _seal(self, db: Database | None = None) -> PayloadSeal | None:
        """The seal: set by `protect`, else from the ledger's own key (made inside `db`'s
        transaction when there is none yet; None when reading and there is none)."""
        if self.seal is None:
            if db is not None:
                db.execute("INSERT INTO meta VALUES ('pseudonym_key', ?) ON CONFLICT DO NOTHING", (secrets.token_hex(32),))
            own = self.meta("pseudonym_key")
            self.seal = PayloadSeal(own) if own else None
        return self.seal

    def quarantine(self, db: Database, entry: QuarantineEntry, run_id: int | None) -> None:
        """Store (or refresh) a quarantine entry inside the caller's transaction: its payload
        sealed (never in clear), its reasons with every known secret masked."""
        payload = self._seal(db).seal(entry.payload, _context(entry.source, entry.key, entry.stage))  # type: ignore[union-attr]
        db.execute(
            "INSERT INTO quarantine (source, key, stage, payload, errors, at, run_id) VALUES (?,?,?,?,?,?,?)"
            " ON CONFLICT (source, key, stage) DO UPDATE SET payload = excluded.payload,"
            " errors = excluded.errors, at = excluded.at, run_id = excluded.run_id",
            (entry.source, entry.key, entry.stage, payload,
             orjson.dumps([redact(str(error)) for error in entry.errors]).decode(), now_text(), run_id),
        )

    def quarantined(self, entry_id: int | None = None) -> list[QuarantineEntry]:
        """Quarantine entries (all, or one by id), their payloads opened. One that cannot be
        opened (the pseudonym key changed) has an empty payload and says so in its errors."""
        query = "SELECT id, source, key, stage, payload, errors, at FROM quarantine"
        rows = self.db.execute(query + (" WHERE id = ?" if entry_id is not None else " ORDER BY id"),
                               (entry_id,) if entry_id is not None else ()).fetchall()
        return [self._opened(QuarantineEntry(r[1], r[2], r[3], r[4], orjson.loads(r[5]), r[0], r[6])) for r in rows]

    def _opened(self, entry: QuarantineEntry) -> QuarantineEntry:
        if not entry.payload.startswith(SEALED):
            return entry
        seal = self._seal()
        try:
            if seal is None:
                raise ValueError("the payload is sealed and this ledger has no key")
            entry.payload = seal.open(entry.payload, _context(entry.source, entry.key, entry.stage))
        except ValueError as exc:
            entry.payload, entry.errors = "", [*entry.errors, f"payload: {exc}"]
        return entry

    def discard(self, entry_id: int) -> bool:
        """Delete a quarantine entry; False when there was none."""
        with self.transaction() as db:
            return db.execute("DELETE FROM quarantine WHERE id = ?", (entry_id,)).rowcount > 0

    # -- runs ---------------------------------------------------------------------------------
    def start_run(self, sources: list[str], locks: Iterable[str] = ()) -> tuple[int, str]:
        """Open a run record naming the locks it holds; returns (id, start time)."""
        started = now_text()
        holder = f"pid {os.getpid()} on {socket.gethostname()}"
        with self.transaction() as db:
            run_id = db.execute("INSERT INTO runs (started_at, sources, holder, locks) VALUES (?, ?, ?, ?) RETURNING id",
                                (started, ",".join(sources), holder, ",".join(locks))).fetchone()[0]
        return run_id, started

    def finish_run(self, run_id: int, report: RunReport) -> None:
        """Close a run record with its report."""
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET finished_at=?, outcome=?, records=?, dossiers=?, revisions=?,"
                " quarantined=?, pending=?, duration=?, error=? WHERE id=?",
                (now_text(), report.outcome, report.records, report.dossiers, report.revisions,
                 report.quarantined, report.pending, report.duration_seconds,
                 None if report.error is None else redact(report.error), run_id),
            )

    def runs(self, limit: int = 20) -> list[tuple]:
        """The latest runs, newest first."""
        return self.db.execute(
            "SELECT id, started_at, finished_at, sources, outcome, records, dossiers, revisions,"
            " quarantined, pending, duration, error FROM runs ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
