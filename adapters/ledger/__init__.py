"""`ledger` sink: every evidence revision kept in the ledger's own `evidence` table."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from isobridge.core import AdapterOptions, EvidenceItem, hookimpl, Sink, SinkUnavailable, WriteResult

TABLE = """CREATE TABLE IF NOT EXISTS evidence (
    dossier TEXT NOT NULL, revision INTEGER NOT NULL, verdict TEXT NOT NULL, evidence BLOB NOT NULL,
    PRIMARY KEY (dossier, revision)) WITHOUT ROWID"""


class LedgerSinkOptions(AdapterOptions):
    """`[sinks.NAME]` options: `path` of another SQLite file, default the deployment's ledger."""

    path: Path | None = None


class LedgerSink(Sink):
    """Stores each revision once (the primary key makes a replay a no-op)."""

    name = "ledger"
    Options = LedgerSinkOptions
    options: LedgerSinkOptions

    def __init__(self, options: LedgerSinkOptions, context) -> None:
        super().__init__(options, context)
        path = context.resolve(options.path) if options.path else context.ledger_path
        if path is None:
            raise ValueError("ledger sink: the ledger is no SQLite file (it is on PostgreSQL): give this sink its own `path`")
        self.db = sqlite3.connect(path, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(TABLE)

    def write(self, batch: list[EvidenceItem]) -> WriteResult:
        """Insert the revisions in one transaction."""
        good = [i for i in batch if isinstance(i.evidence.get("verdict"), str)]
        rejected = {i.key: "evidence has no verdict" for i in batch if not isinstance(i.evidence.get("verdict"), str)}
        rows = [(i.dossier, i.revision, i.evidence["verdict"], i.json()) for i in good]
        try:
            with self.db:
                self.db.executemany("INSERT OR IGNORE INTO evidence VALUES (?, ?, ?, ?)", rows)
        except sqlite3.Error as exc:
            raise SinkUnavailable(f"ledger evidence table: {exc}") from None
        return WriteResult(accepted=[item.key for item in good], rejected=rejected)

    def close(self) -> None:
        """Close the connection."""
        self.db.close()


@hookimpl
def register_sinks(register) -> None:
    """Register the ledger sink."""
    register(LedgerSink)
