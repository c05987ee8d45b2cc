"""Incremental reading of a folder of files, for file-based source adapters.

Internal module: plugins import its public names from `isobridge.core` (the face).

The cursor is a JSON object: relative path → {"offset", "size", "mtime_ns", …}. Line files are
read from the byte offset where the last run stopped (a grown file is read from where it was; a
file replaced, shrunk or rewritten in place, from the start: the ledger's change detection drops
what did not change); whole-document files are read once and again only when they change. A line
without its final line break is never read until it has one; the cursor notes it as
`unfinished` (shown by `isobridge state`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path

from .adapters import CheckResult

log = logging.getLogger(__name__)


def load_cursor(cursor: str | None) -> dict[str, dict]:
    """Decode a folder cursor (None: nothing read yet)."""
    if not cursor:
        return {}
    state = json.loads(cursor)
    if not isinstance(state, dict):
        raise ValueError("folder cursor is not a JSON object")
    return state


def dump_cursor(state: dict[str, dict]) -> str:
    """Encode a folder cursor."""
    return json.dumps(state, sort_keys=True, separators=(",", ":"))


def files_in(folder: Path, pattern: str) -> list[Path]:
    """Files matching `pattern` (a glob, `**` allowed), in a stable order."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: source folder does not exist")
    return sorted(path for path in folder.glob(pattern) if path.is_file())


def check_folder(folder: Path, pattern: str, noun: str) -> CheckResult:
    """A source's check of its folder: it can be read; says how many `noun` files match."""
    try:
        count = len(files_in(folder, pattern))
    except OSError as exc:
        return CheckResult(False, str(exc), {"reachable": False})
    return CheckResult(True, f"{count} {noun} files in {folder}", {"reachable": True, "files": count})


HEAD_BYTES = 256
"""Bytes at the start of a file whose hash tells a grown file from a replaced one (the cursor
format before the prefix digest; still checked in entries that have no digest)."""
PREFIX_LIMIT = 64 * 1024 * 1024
"""The bytes before a line file's offset are hashed up to this many; beyond it only the head and
the last :data:`TAIL_BYTES` before the offset are compared (a rewrite in the middle of a larger
file that keeps its size, head and tail goes unseen)."""
TAIL_BYTES = 4096
"""Bytes before the offset whose hash is kept for files above :data:`PREFIX_LIMIT`."""
_READ = 1024 * 1024


class _Crc:
    """A running CRC-32 with the update/copy/hexdigest face of hashlib's digests: the bytes before
    an offset are hashed on every read of a file, and CRC-32 runs at memory speed where a
    cryptographic hash would cost a tenth of the read (a rewrite is no attack to resist: whoever
    can write the file can write any record)."""

    __slots__ = ("value",)

    def __init__(self, value: int = 0):
        self.value = value

    def update(self, data: bytes) -> None:
        """Add `data`."""
        self.value = zlib.crc32(data, self.value)

    def copy(self) -> "_Crc":
        """A copy at this point."""
        return _Crc(self.value)

    def hexdigest(self) -> str:
        """The CRC as 8 hex digits."""
        return f"{self.value:08x}"


def _digest() -> _Crc:
    return _Crc()


def _head(path: Path, length: int) -> str:
    with open(path, "rb") as handle:
        return hashlib.blake2b(handle.read(length), digest_size=8).hexdigest()


def _hash_range(handle, start: int, end: int, digest=None):
    """`digest` (a fresh one when None) updated with the bytes [start, end) of an open file."""
    digest = _digest() if digest is None else digest
    handle.seek(start)
    while start < end:
        chunk = handle.read(min(_READ, end - start))
        if not chunk:
            break
        digest.update(chunk)
        start += len(chunk)
    return digest


def _tail(handle, offset: int) -> str:
    return _hash_range(handle, max(0, offset - TAIL_BYTES), offset).hexdigest()


@dataclass
class Resume:
    """Where to go on reading a line file, and the running digest of the bytes before it."""

    offset: int
    digest: _Crc
    """CRC-32 of the bytes [0, min(offset, PREFIX_LIMIT))."""


def resume(path: Path, stat, seen: dict) -> Resume:
    """Where to go on reading a line file: where the last run stopped, or 0 when the file was
    replaced (another inode), shrank (truncated, rotated) or was rewritten in place (the bytes
    before the offset are no longer those read: prefix digest, head or tail differ).

    A cursor entry of the older format (no `prefix`) is checked by its head only; the entry
    written after this run has the digest.
    """
    offset = seen.get("offset", 0)
    if not offset or stat.st_size < offset or ("ino" in seen and seen["ino"] != stat.st_ino):
        return Resume(0, _digest())
    with open(path, "rb") as handle:
        digest = _hash_range(handle, 0, min(offset, PREFIX_LIMIT))
        if "prefix" in seen and (digest.hexdigest() != seen["prefix"]
                                 or (offset > PREFIX_LIMIT and _tail(handle, offset) != seen.get("tail"))):
            return Resume(0, _digest())
    length = seen.get("head_len", 0)
    if "prefix" not in seen and length and _head(path, length) != seen.get("head"):
        return Resume(0, _digest())
    return Resume(offset, digest)


def resume_offset(path: Path, stat, seen: dict) -> int:
    """The offset of :func:`resume` alone."""
    return resume(path, stat, seen).offset


def mark(path: Path, stat, offset: int, digest=None, last: bool = True) -> dict:
    """The cursor entry of a line file read up to `offset`; `digest` is the running digest of the
    bytes before it (computed from the file when not given). When this is where reading the file
    stopped (`last`), bytes after `offset` that it already held (a last line without its line
    break) are noted as `unfinished`, for operators."""
    length = min(HEAD_BYTES, offset)
    with open(path, "rb") as handle:
        if digest is None:
            digest = _hash_range(handle, 0, min(offset, PREFIX_LIMIT))
        handle.seek(0)
        head = hashlib.blake2b(handle.read(length), digest_size=8).hexdigest() if length else ""
        entry = {"offset": offset, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "ino": stat.st_ino,
                 "head_len": length, "head": head, "prefix": digest.hexdigest()}
        if offset > PREFIX_LIMIT:
            entry["tail"] = _tail(handle, offset)
    if last and stat.st_size > offset:
        entry["unfinished"] = {"at": offset, "bytes": stat.st_size - offset}
    return entry


def unfinished_lines(cursor: str | None) -> list[str]:
    """Operators' notes on the files of a folder cursor whose last line has no line break yet
    (held back until it ends); empty for any other cursor."""
    try:
        state = load_cursor(cursor)
    except ValueError:
        return []
    notes = []
    for rel, entry in sorted(state.items()):
        waiting = entry.get("unfinished") if isinstance(entry, dict) else None
        if isinstance(waiting, dict):
            notes.append(f"{rel}: unfinished last line ({waiting.get('bytes')} bytes at offset"
                         f" {waiting.get('at')}), read once its line break is written")
    return notes


MAX_LINE_BYTES = 16 * 1024 * 1024
"""Longest line read; a longer one is skipped (in chunks, never held in memory) and reported in
:attr:`LineBlock.long` for the adapter to quarantine."""
LONG_LINE_SCAN = 256 * 1024 * 1024
"""How far past :data:`MAX_LINE_BYTES` a run looks for the end of an over-long line; beyond it the
line counts as unfinished (the rest of the file waits, and `isobridge state` says so)."""
PAGE_BYTES = 64 * 1024 * 1024
"""Most bytes of lines in one page, whatever `page_lines` allows."""


class LineTooLong:
    """The `data` of a record standing for a line above :data:`MAX_LINE_BYTES` (never read):
    its adapter's `map` raises RecordError with this text."""

    def __init__(self, length: int):
        self.length = length

    def __str__(self) -> str:
        return f"a line of {self.length} bytes, above the limit of {MAX_LINE_BYTES}: not read"


@dataclass
class LineBlock:
    """A page of lines of one file, for adapters that decode a page at once: byte offsets and raw
    lines (line breaks kept), blank lines left out unless asked for. A line longer than
    :data:`MAX_LINE_BYTES` stands as `b""` and its length is in `long` (by offset)."""

    path: str
    offsets: list[int]
    lines: list[bytes]
    long: dict[int, int] = field(default_factory=dict)


def read_line_blocks(folder: Path, pattern: str, cursor: str | None, page_lines: int = 1000,
                     settle_seconds: float = 60.0, keep_blank: bool = False) -> Iterator[tuple[LineBlock, str]]:
    """Pages of new lines, each one :class:`LineBlock` of at most `page_lines` lines (blank ones
    included in the count) and :data:`PAGE_BYTES` of one file. Blank lines are left out, unless
    `keep_blank` (a CSV field in quotes may hold one).

    A grown file is read from where the last run stopped; a replaced, shrunk or rewritten one
    from the start (see :func:`resume`). A last line without its line break is never read, however
    long it waits: the cursor stays before it and notes it as `unfinished`; once the file has
    not changed for `settle_seconds`, a warning says so.
    """
    state = load_cursor(cursor)
    for path in files_in(folder, pattern):
        rel = path.relative_to(folder).as_posix()
        stat = path.stat()
        seen = state.get(rel, {})
        if (seen.get("offset") == stat.st_size and seen.get("mtime_ns") == stat.st_mtime_ns
                and seen.get("ino", stat.st_ino) == stat.st_ino and seen.get("size") == stat.st_size):
            continue  # unchanged since the last run
        at = resume(path, stat, seen)
        if stat.st_size == at.offset and seen.get("prefix"):
            continue
        yield from _blocks(path, rel, at, stat, state, page_lines, keep_blank)
        _warn_unfinished(rel, state[rel], stat, settle_seconds)


def _warn_unfinished(rel: str, entry: dict, stat, settle_seconds: float) -> None:
    waiting = entry.get("unfinished")
    if waiting and time.time() - stat.st_mtime >= settle_seconds:
        log.warning("%s: the last line (%s bytes at offset %s) has no line break and the file has not"
                    " changed for %.0f s; it is read once the line ends", rel, waiting["bytes"],
                    waiting["at"], time.time() - stat.st_mtime)


def _blocks(path: Path, rel: str, at: Resume, stat, state: dict,
            page_lines: int, keep_blank: bool) -> Iterator[tuple[LineBlock, str]]:
    offset, digest = at.offset, at.digest
    with open(path, "rb") as handle:
        handle.seek(offset)
        start = offset
        while True:
            lines, lengths, long, full = _page(handle, page_lines, stat.st_size - offset)
            if not lines and offset > start:
                if stat.st_size > offset:  # an unfinished line after the last full page: say so
                    state[rel] = mark(path, stat, offset, digest.copy())
                    yield LineBlock(rel, [], []), dump_cursor(state)
                return  # the file ended exactly with the last page
            offsets = list(accumulate(lengths, initial=offset))
            end = offsets.pop()
            if offset < PREFIX_LIMIT and end > offset:
                if long:  # an over-long line is not in memory: hash it from the file
                    _hash_range(handle, offset, min(end, PREFIX_LIMIT), digest)
                    handle.seek(end)
                else:
                    digest.update(b"".join(lines)[:PREFIX_LIMIT - offset])
            offset = end
            long = {offsets[i]: n for i, n in long.items()} if long else long
            if not keep_blank and any(map(bytes.isspace, lines)):
                kept = [(at, line) for at, line in zip(offsets, lines) if not line.isspace()]
                offsets, lines = [at for at, _ in kept], [line for _, line in kept]
            state[rel] = mark(path, stat, offset, digest.copy(), last=not full)
            yield LineBlock(rel, offsets, lines, long), dump_cursor(state)
            if not full:
                return


def _page(handle, page_lines: int, budget: int) -> tuple[list[bytes], list[int], dict[int, int], bool]:
    """The next complete lines (ending with a line break) within `budget` bytes of the file:
    (lines, their lengths, over-long lines by index → length, whether the page is full so more
    may follow). The handle is left after the last line taken."""
    lines: list[bytes] = []
    lengths: list[int] = []
    long: dict[int, int] = {}
    readline, taken = handle.readline, 0
    while len(lines) < page_lines and taken < PAGE_BYTES:
        line = readline(min(MAX_LINE_BYTES + 1, budget - taken))
        if line.endswith(b"\n"):
            lines.append(line)
            lengths.append(len(line))
            taken += len(line)
            continue
        length = _long_line(handle, len(line), budget - taken) if len(line) > MAX_LINE_BYTES else None
        if length is None:  # the end, or a line without its line break yet: left for a later run
            handle.seek(-len(line), 1)
            return lines, lengths, long, False
        long[len(lines)] = length
        lines.append(b"")
        lengths.append(length)
        taken += length
    return lines, lengths, long, True


def _long_line(handle, read: int, budget: int) -> int | None:
    """The length of an over-long line `read` bytes into (the handle after it), or None when its
    line break is not within `budget` nor :data:`LONG_LINE_SCAN` (the handle left where it was)."""
    length, limit = read, min(budget, MAX_LINE_BYTES + LONG_LINE_SCAN)
    while length < limit:
        chunk = handle.read(min(_READ, limit - length))
        if not chunk:
            break
        found = chunk.find(b"\n")
        if found >= 0:
            handle.seek(found + 1 - len(chunk), 1)
            return length + found + 1
        length += len(chunk)
    handle.seek(read - length, 1)
    return None


def changed_documents(folder: Path, pattern: str, cursor: str | None,
                      page_size: int = 100) -> Iterator[tuple[list[Path], str]]:
    """Pages of whole-document files that are new or changed since `cursor`, each with the
    cursor after it (encoded once per page, so a folder of many files stays linear)."""
    state = load_cursor(cursor)
    page: list[Path] = []
    for path in files_in(folder, pattern):
        rel = path.relative_to(folder).as_posix()
        stat = path.stat()
        mark = {"offset": stat.st_size, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        if state.get(rel) == mark:
            continue
        state[rel] = mark
        page.append(path)
        if len(page) >= page_size:
            yield page, dump_cursor(state)
            page = []
    if page:
        yield page, dump_cursor(state)
