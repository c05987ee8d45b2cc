"""`jsonl` sink: evidence revisions appended to a JSON Lines file, exactly once.

The committed byte offset is kept in the ledger with each acknowledgement; on opening, anything
after it (written before a crash, never acknowledged) is cut off and delivered again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from isobridge.core import (
    AdapterOptions, CheckResult, EvidenceItem, hookimpl, Sink, SinkFileError, SinkUnavailable, WriteResult
)


class JsonlOptions(AdapterOptions):
    """`[sinks.NAME]` options of the jsonl sink."""

    path: Path
    fsync: bool = True

    def outputs(self) -> list[Path]:
        """The files this sink writes (no two sinks may share one)."""
        return [self.path, owner_path(self.path)]


def owner_path(path: Path) -> Path:
    """The small file beside the evidence file that says which sink of which ledger writes it."""
    return path.with_name(path.name + ".owner")


def _claim(path: Path, context) -> None:
    """Make sure the file at `path` is this sink's before anything truncates it.

    Without a committed offset (a new sink, or one that crashed before its first acknowledgement),
    a non-empty file is truncated only when its owner file names this sink and ledger; someone
    else's file (an older deployment's evidence, a case log) is refused, never emptied.
    """
    owner = owner_path(path)
    me = json.dumps({"sink": context.name, "ledger": str(context.ledger_path)}, ensure_ascii=False)
    if "offset" not in context.state and path.exists() and path.stat().st_size:
        theirs = owner.read_text("utf-8") if owner.is_file() else None
        if theirs != me:
            raise SinkFileError(f"{path} exists but was not written by sink {context.name!r} of this ledger"
                                " (no committed offset, no matching owner file); move it away or choose another path")
    if not owner.is_file() or owner.read_text("utf-8") != me:
        owner.write_text(me, "utf-8")


class JsonlSink(Sink):
    """Appends one evidence revision per line (the evidence plus its `revision`)."""

    name = "jsonl"
    Options = JsonlOptions
    options: JsonlOptions

    def __init__(self, options: JsonlOptions, context) -> None:
        super().__init__(options, context)
        self.path = context.resolve(options.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _claim(self.path, context)
        self._file = open(self.path, "ab+")
        committed = int(context.state.get("offset", 0))
        size = self._file.seek(0, os.SEEK_END)
        if size > committed:
            self._file.truncate(committed)
        elif size < committed:
            context.log.warning("%s is shorter than its committed offset; was it rotated?", self.path)
        context.state["offset"] = self._file.seek(0, os.SEEK_END)

    def check(self) -> CheckResult:
        """The file is writable."""
        return CheckResult(os.access(self.path, os.W_OK), str(self.path))

    def write(self, batch: list[EvidenceItem]) -> WriteResult:
        """Append the batch, flush it to disk, then acknowledge it."""
        lines = b"".join(item.json()[:-1] + b',"revision":%d}\n' % item.revision for item in batch)
        try:
            self._file.write(lines)
            self._file.flush()
            if self.options.fsync:
                os.fsync(self._file.fileno())
        except OSError as exc:
            raise SinkUnavailable(f"{self.path}: {exc}") from None
        self.context.state["offset"] = self._file.tell()
        return WriteResult(accepted=[item.key for item in batch])

    def close(self) -> None:
        """Close the file."""
        self._file.close()


@hookimpl
def register_sinks(register) -> None:
    """Register the jsonl sink."""
    register(JsonlSink)
