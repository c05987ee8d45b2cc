"""Reading evidence JSON Lines for reports: numbered records, bad lines reported, latest revision."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import IO

import orjson

Reject = Callable[[str, list[str]], None]


MAX_LINE_BYTES = 16 * 1024 * 1024
"""An evidence line longer than this is rejected unread (a file without line ends cannot fill memory)."""


def _open(path: str) -> IO[bytes]:
    return sys.stdin.buffer if path == "-" else open(path, "rb")


def _lines(source: IO[bytes], path: str, reject: Reject) -> Iterator[tuple[int, bytes]]:
    """(number, line) of each line of at most MAX_LINE_BYTES; a longer one is rejected and skipped."""
    limit, number = MAX_LINE_BYTES, 0
    while True:
        line = source.readline(limit + 1)
        if not line:
            return
        number += 1
        if len(line) > limit:
            while line and not line.endswith(b"\n"):
                line = source.readline(limit)
            reject(f"{path}:{number}", [f"line longer than {limit} bytes: skipped"])
            continue
        yield number, line


def read_evidence(path: str, reject: Reject) -> Iterator[tuple[str, dict]]:
    """(where, record) of every line; undecodable lines go to `reject` with their line number."""
    source = _open(path)
    try:
        for number, line in _lines(source, path, reject):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                reject(where, [f"invalid JSON: {exc}"])
                continue
            yield where, record
    finally:
        if source is not sys.stdin.buffer:
            source.close()


def latest_revisions(path: str, reject: Reject) -> Iterator[tuple[str, dict]]:
    """Like :func:`read_evidence`, but only the last line of each dossier (its latest revision).

    Two passes over the file: the first remembers the last line number of each dossier
    (standard input is read once, every line counted).
    """
    if path == "-":
        yield from read_evidence(path, reject)
        return
    last: dict[str, int] = {}
    ignore: Reject = lambda where, reasons: None  # noqa: E731 - reported in the second pass
    for number, (_, record) in enumerate(read_evidence(path, ignore)):
        if isinstance(record, dict) and isinstance(record.get("dossier"), str):
            last[record["dossier"]] = number
    for number, (where, record) in enumerate(read_evidence(path, reject)):
        dossier = record.get("dossier") if isinstance(record, dict) else None
        if not isinstance(dossier, str) or last.get(dossier) == number:
            yield where, record


def find_dossier(path: str, dossier: str, reject: Reject) -> dict | None:
    """The last evidence record of `dossier` in a file (None when absent)."""
    needle = orjson.dumps(dossier) if dossier.isascii() else b""
    found = None
    source = _open(path)
    try:
        for number, line in _lines(source, path, reject):
            if needle not in line:
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                reject(f"{path}:{number}", [f"invalid JSON: {exc}"])
                continue
            if isinstance(record, dict) and record.get("dossier") == dossier:
                found = record
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    return found
