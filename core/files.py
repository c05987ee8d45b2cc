"""Incremental reading of a folder of files, for file-based source adapters.

The cursor is a JSON object: relative path → {"offset", "size", "mtime_ns"}. Line files are
read from the byte offset where the last run stopped (a grown file is read from where it was);
whole-document files are read once and again only when they change. A line without its final
newline is held back while the file is still being written (modified less than `settle_seconds`
ago), so a half-written line is never read as a record.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate, islice
from pathlib import Path

from .adapters import CheckResult


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
"""Bytes at the start of a file whose hash tells a grown file from a replaced one."""


def _head(path: Path, length: int) -> str:
    with open(path, "rb") as handle:
        return hashlib.blake2b(handle.read(length), digest_size=8).hexdigest()


def resume_offset(path: Path, stat, seen: dict) -> int:
    """Where to go on reading a line file: where the last run stopped, or 0 when the file was
    replaced (another inode, other first bytes) or shrank (rotated, rewritten)."""
    offset = seen.get("offset", 0)
    if stat.st_size < offset or ("ino" in seen and seen["ino"] != stat.st_ino):
        return 0
    length = seen.get("head_len", 0)
    if length and _head(path, length) != seen.get("head"):
        return 0
    return offset


def mark(path: Path, stat, offset: int) -> dict:
    """The cursor entry of a line file read up to `offset`."""
    length = min(HEAD_BYTES, offset)
    return {"offset": offset, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "ino": stat.st_ino,
            "head_len": length, "head": _head(path, length) if length else ""}


@dataclass
class LineBlock:
    """A page of lines of one file, for adapters that decode a page at once: byte offsets and raw
    lines (line breaks kept), blank lines left out unless asked for."""

    path: str
    offsets: list[int]
    lines: list[bytes]


def read_line_blocks(folder: Path, pattern: str, cursor: str | None, page_lines: int = 1000,
                     settle_seconds: float = 60.0, keep_blank: bool = False) -> Iterator[tuple[LineBlock, str]]:
    """Pages of new lines, each one :class:`LineBlock` of at most `page_lines` lines (blank ones
    included in the count) of one file, read without a Python step per line. Blank lines are
    left out, unless `keep_blank` (a CSV field in quotes may hold one).

    A grown file is read from where the last run stopped; a replaced, rewritten or shrunk one
    from the start; a last line without its newline waits until the file settles.
    """
    state = load_cursor(cursor)
    for path in files_in(folder, pattern):
        rel = path.relative_to(folder).as_posix()
        stat = path.stat()
        offset = resume_offset(path, stat, state.get(rel, {}))
        if stat.st_size == offset:
            continue
        settled = time.time() - stat.st_mtime >= settle_seconds
        yield from _blocks(path, rel, offset, stat, settled, state, page_lines, keep_blank)


def _blocks(path: Path, rel: str, offset: int, stat, settled: bool, state: dict,
            page_lines: int, keep_blank: bool) -> Iterator[tuple[LineBlock, str]]:
    with open(path, "rb") as handle:
        handle.seek(offset)
        start = offset
        while True:
            lines = list(islice(handle, page_lines))
            if not lines and offset > start:
                return  # the file ended exactly with the last page
            full = len(lines) == page_lines
            if offset + sum(map(len, lines)) > stat.st_size:  # appended after this run looked: next run
                lines = _within(lines, stat.st_size - offset)
                full = False
            if lines and not lines[-1].endswith(b"\n"):
                full = False
                if not settled:
                    lines.pop()  # still being written: held back until the file settles
            offsets = list(accumulate(map(len, lines), initial=offset))
            offset = offsets.pop()
            if not keep_blank and any(map(bytes.isspace, lines)):
                kept = [(at, line) for at, line in zip(offsets, lines) if not line.isspace()]
                offsets, lines = [at for at, _ in kept], [line for _, line in kept]
            state[rel] = mark(path, stat, offset)
            yield LineBlock(rel, offsets, lines), dump_cursor(state)
            if not full:
                return


def _within(lines: list[bytes], budget: int) -> list[bytes]:
    kept = []
    for line in lines:
        budget -= len(line)
        if budget < 0:
            break
        kept.append(line)
    return kept


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
