"""Exactly-once append files for file sinks: committed offsets and an on-disk key index (internal
module: plugins use `CommittedFile`, `KeyIndex`, `index_path` and `SinkFileError` from `isobridge.core`).

A file sink appends a batch, flushes it to disk, records the keys it wrote in a small SQLite
index beside the file and reports the new end offset; the host stores that offset in the sink's
`context.state` together with the batch acknowledgement. When the sink opens again it truncates
the file back to the stored offset and forgets the keys written after it, so a tail written
before a crash and never acknowledged disappears and is written again, once.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from .errors import UnavailableError

_CHUNK = 500


class SinkFileError(UnavailableError):
    """A sink's file cannot be used safely (e.g. someone else's file at the same path)."""


def index_path(path: Path) -> Path:
    """Where the key index of a sink file lives."""
    return path.with_name(path.name + ".keys.sqlite")


class KeyIndex:
    """Idempotency keys already written, each with the file offset that includes it."""

    def __init__(self, path: Path, fsync: bool = True):
        """Open (or create) the index; without `fsync` SQLite never syncs (safe under kill -9 only)."""
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={'NORMAL' if fsync else 'OFF'}")
        self.db.execute("PRAGMA cache_size=-65536")  # 64 MiB: a million keys stay in cache
        self.db.execute("PRAGMA wal_autocheckpoint=16384")  # fewer, larger checkpoints
        self.db.execute("CREATE TABLE IF NOT EXISTS keys (key TEXT PRIMARY KEY, offset INTEGER NOT NULL) WITHOUT ROWID")

    def forget_after(self, offset: int) -> None:
        """Drop the keys of writes beyond the committed `offset`."""
        self.db.execute("DELETE FROM keys WHERE offset > ?", (offset,))

    def seen(self, keys: list[str]) -> set[str]:
        """The subset of `keys` already written."""
        found: set[str] = set()
        for start in range(0, len(keys), _CHUNK):
            part = keys[start:start + _CHUNK]
            marks = ",".join("?" * len(part))
            found.update(row[0] for row in self.db.execute(f"SELECT key FROM keys WHERE key IN ({marks})", part))
        return found

    def add(self, keys: Iterable[str], offset: int) -> None:
        """Record `keys` as written by the append that ends at `offset`."""
        self.db.execute("BEGIN")
        self.db.executemany("INSERT OR REPLACE INTO keys VALUES (?, ?)", ((key, offset) for key in keys))
        self.db.execute("COMMIT")

    def close(self) -> None:
        """Close the database."""
        self.db.close()


class CommittedFile:
    """A binary file appended at a committed offset; the tail past it is dropped on open."""

    def __init__(self, path: Path, committed: int | None, fsync: bool = True, index: Path | None = None):
        """Open `path` truncated to `committed`; `index` is the key index that marks the file as ours."""
        self.path = path
        self.fsync = fsync
        marker = index or index_path(path)
        if committed is None and path.exists() and path.stat().st_size and not marker.exists():
            raise SinkFileError(
                f"{path} exists but was not written by this sink (no committed offset, no key index);"
                " move it away or choose another path"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(path, "r+b" if path.exists() else "w+b")
        self.offset = committed or 0
        size = self.file.seek(0, os.SEEK_END)
        if size < self.offset:
            raise SinkFileError(f"{path} is shorter ({size} bytes) than its committed offset {self.offset}")
        self.file.truncate(self.offset)
        self.file.seek(self.offset)

    def append(self, data: bytes, trailer: bytes = b"") -> int:
        """Write `data` at the committed offset, then `trailer` after it; returns the new offset.

        The trailer (e.g. a closing tag) stays past the offset: the next append overwrites it.
        """
        self.file.seek(self.offset)
        self.file.write(data)
        end = self.offset + len(data)
        if trailer:
            self.file.write(trailer)
        self.file.truncate()
        self.file.flush()
        if self.fsync:
            os.fsync(self.file.fileno())
        return end

    def commit(self, offset: int) -> None:
        """Take `offset` as the new end of the durable content."""
        self.offset = offset

    def close(self) -> None:
        """Close the file."""
        self.file.close()
