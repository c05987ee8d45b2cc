"""Incremental folder reading: grown files from where they were, replaced files from the start."""

from __future__ import annotations

import os
from pathlib import Path

from isobridge.core.files import read_line_blocks


def blocks_of(pages) -> list[bytes]:
    return [line.rstrip(b"\n") for block, _ in pages for line in block.lines]


def last_cursor(pages) -> str:
    return pages[-1][1]


def test_grown_file_is_read_from_where_it_was(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(b"one\ntwo\n")
    first = list(read_line_blocks(tmp_path, "*.jsonl", None, settle_seconds=0))
    with open(tmp_path / "a.jsonl", "ab") as out:
        out.write(b"three\n")
    again = list(read_line_blocks(tmp_path, "*.jsonl", last_cursor(first), settle_seconds=0))
    assert blocks_of(first) == [b"one", b"two"] and blocks_of(again) == [b"three"]


def test_file_replaced_by_a_larger_one_is_read_from_the_start(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(b"one\ntwo\n")
    first = list(read_line_blocks(tmp_path, "*.jsonl", None, settle_seconds=0))
    (tmp_path / "new.tmp").write_bytes(b"uno\ndos\ntres\ncuatro\n")
    os.replace(tmp_path / "new.tmp", tmp_path / "a.jsonl")  # an export rewritten atomically
    again = list(read_line_blocks(tmp_path, "*.jsonl", last_cursor(first), settle_seconds=0))
    assert blocks_of(again) == [b"uno", b"dos", b"tres", b"cuatro"]
    blocks = list(read_line_blocks(tmp_path, "*.jsonl", last_cursor(first), settle_seconds=0))
    assert blocks_of(blocks) == [b"uno", b"dos", b"tres", b"cuatro"]


def test_file_rewritten_in_place_with_other_first_bytes_is_read_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"one\ntwo\n")
    first = list(read_line_blocks(tmp_path, "*.jsonl", None, settle_seconds=0))
    with open(path, "r+b") as handle:  # same inode, new content
        handle.write(b"ONE\nTWO\nTHREE\n")
    again = list(read_line_blocks(tmp_path, "*.jsonl", last_cursor(first), settle_seconds=0))
    assert blocks_of(again) == [b"ONE", b"TWO", b"THREE"]
