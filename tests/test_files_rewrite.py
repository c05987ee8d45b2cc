"""Line files rewritten in place, and last lines finished after a long pause (issue 12)."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import orjson

from isobridge.core.cli import main
from isobridge.core.files import load_cursor, read_line_blocks, unfinished_lines
from isobridge.core.ledger import Ledger
from test_sync_job import AS_OF, write_cases

LONG = b'{"dossier": "H-1", "note": "' + b"x" * 400 + b'"}\n'  # a first line longer than any head hash


def lines_of(pages) -> list[bytes]:
    return [line.rstrip(b"\n") for block, _ in pages for line in block.lines]


def read(folder: Path, cursor: str | None = None, settle: float = 0) -> tuple[list[bytes], str | None]:
    pages = list(read_line_blocks(folder, "*.jsonl", cursor, page_lines=2, settle_seconds=settle))
    return lines_of(pages), (pages[-1][1] if pages else cursor)


def test_truncated_then_appended_file_with_the_same_first_bytes_is_read_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(LONG + b"two\nthree\n")
    _, cursor = read(tmp_path)
    inode = path.stat().st_ino
    with open(path, "r+b") as handle:  # truncate, then write the new content: same inode, same head
        handle.truncate(0)
        handle.write(LONG + b"TWO-rewritten\nthree\nfour\nfive\n")
    assert path.stat().st_ino == inode
    again, _ = read(tmp_path, cursor)
    assert again == [LONG.rstrip(b"\n"), b"TWO-rewritten", b"three", b"four", b"five"]


def test_file_rewritten_in_place_to_the_same_size_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(LONG + b"two\nsix\n")
    _, cursor = read(tmp_path)
    with open(path, "r+b") as handle:  # an editor saving over the file: same inode, same size
        handle.write(LONG + b"TWO\nSIX\n")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10_000_000))
    again, _ = read(tmp_path, cursor)
    assert again == [LONG.rstrip(b"\n"), b"TWO", b"SIX"]


def test_unchanged_and_grown_files_are_not_read_again(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(LONG + b"two\n")
    first, cursor = read(tmp_path)
    assert read(tmp_path, cursor)[0] == []
    with open(path, "ab") as handle:
        handle.write(b"three\n")
    assert read(tmp_path, cursor)[0] == [b"three"]


def test_a_cursor_of_the_older_format_resumes_where_it_was(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(LONG + b"two\n")
    _, cursor = read(tmp_path)
    state = load_cursor(cursor)
    old = {key: state["a.jsonl"][key] for key in ("offset", "size", "mtime_ns", "ino", "head_len", "head")}
    with open(path, "ab") as handle:
        handle.write(b"three\n")
    lines, after = read(tmp_path, json.dumps({"a.jsonl": old}))
    assert lines == [b"three"] and "prefix" in load_cursor(after)["a.jsonl"]  # migrated on the way


def test_a_last_line_finished_after_a_long_pause_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"dossier": "H-1"}\n{"dossier": "H-')
    past = time.time() - 3600
    os.utime(path, (past, past))  # the writer paused an hour, far past settle_seconds
    lines, cursor = read(tmp_path, settle=5)
    assert lines == [b'{"dossier": "H-1"}']
    assert load_cursor(cursor)["a.jsonl"]["unfinished"] == {"at": 19, "bytes": 15}
    assert unfinished_lines(cursor) == ["a.jsonl: unfinished last line (15 bytes at offset 19),"
                                        " read once its line break is written"]
    assert read(tmp_path, cursor, settle=5)[0] == []  # still waiting: nothing read, nothing lost
    with open(path, "ab") as handle:
        handle.write(b'2"}\n')
    lines, cursor = read(tmp_path, cursor, settle=5)
    assert lines == [b'{"dossier": "H-2"}'] and "unfinished" not in load_cursor(cursor)["a.jsonl"]
    assert unfinished_lines(cursor) == []


def deployment(tmp_path: Path) -> Path:
    (tmp_path / "in").mkdir()
    (tmp_path / "conf.toml").write_text(
        '[ledger]\npath = "ledger.db"\n[sync]\nbatch_size = 50\n'
        '[sources.onestop]\nadapter = "caselog"\nfolder = "in"\npage_lines = 7\nsettle_seconds = 0\n'
        '[sinks.evidence]\nadapter = "jsonl"\npath = "out/evidence.jsonl"\n', encoding="utf-8")
    return tmp_path


def sync(folder: Path) -> int:
    return main(["sync", "--config", str(folder / "conf.toml"), "--as-of", AS_OF])


def revisions(folder: Path) -> dict[str, int]:
    with sqlite3.connect(folder / "ledger.db") as db:
        return dict(db.execute("SELECT dossier, revision FROM dossiers"))


def test_sync_after_an_editor_rewrote_the_case_log_in_place(tmp_path: Path) -> None:
    folder = deployment(tmp_path)
    path = folder / "in/a.jsonl"
    records = write_cases(path, 30)
    assert sync(folder) == 0
    new = [dict(record, dossier="NEW-" + record["dossier"]) for record in write_cases(tmp_path / "more.jsonl", 20, seed=7)]
    with open(path, "r+b") as handle:  # a duplicate line removed by hand, new dossiers added
        handle.truncate(0)
        handle.write(b"".join(orjson.dumps(record) + b"\n" for record in records[:10] + records[11:] + new))
    assert sync(folder) == 0
    stored = revisions(folder)
    assert set(stored) == {record["dossier"] for record in records + new}  # every new dossier read
    assert set(stored.values()) == {1}  # re-read, unchanged dossiers: no new revision
    assert Ledger(folder / "ledger.db").quarantined() == []


def test_sync_waits_for_a_dossier_written_in_two_halves(tmp_path: Path, capsys) -> None:
    folder = deployment(tmp_path)
    path = folder / "in/a.jsonl"
    records = write_cases(path, 3)
    later = write_cases(tmp_path / "more.jsonl", 1, seed=5)[0]
    line = orjson.dumps(dict(later, dossier="NEW-" + later["dossier"])) + b"\n"
    with open(path, "ab") as handle:
        handle.write(line[:40])
    past = time.time() - 3600
    os.utime(path, (past, past))
    assert sync(folder) == 0
    assert len(revisions(folder)) == 3
    capsys.readouterr()
    assert main(["state", "show", "--config", str(folder / "conf.toml")]) == 0
    assert "a.jsonl: unfinished last line (40 bytes" in capsys.readouterr().out
    with open(path, "ab") as handle:
        handle.write(line[40:])
    assert sync(folder) == 0
    assert set(revisions(folder)) == {record["dossier"] for record in records} | {orjson.loads(line)["dossier"]}
    assert Ledger(folder / "ledger.db").quarantined() == []


def test_an_over_long_line_is_skipped_in_bounded_memory_and_reported(tmp_path: Path, monkeypatch) -> None:
    from isobridge.core import files
    monkeypatch.setattr(files, "MAX_LINE_BYTES", 1000)
    monkeypatch.setattr(files, "LONG_LINE_SCAN", 5000)
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"one\n" + b"x" * 3000 + b"\ntwo\n" + b"y" * 9000 + b"\nthree\n")
    pages = list(read_line_blocks(tmp_path, "*.jsonl", None, page_lines=2, settle_seconds=0))
    long = {at: n for block, _ in pages for at, n in block.long.items()}
    assert long == {4: 3001}
    assert lines_of(pages) == [b"one", b"", b"two"]  # the line of 9000 has no end within the scan
    assert load_cursor(pages[-1][1])["a.jsonl"]["unfinished"] == {"at": 3009, "bytes": 9007}
    monkeypatch.setattr(files, "LONG_LINE_SCAN", 10_000)
    lines, _ = read(tmp_path, pages[-1][1])
    assert lines == [b"", b"three"]


def test_a_sparse_file_without_line_breaks_costs_no_memory(tmp_path: Path) -> None:
    """A file of 2 GiB of zeros that takes no disk: it would be one line of 2 GiB."""
    import tracemalloc
    path = tmp_path / "a.jsonl"
    with open(path, "wb") as handle:
        handle.write(b'{"dossier": "H-1"}\n')
        handle.truncate(2 * 1024 ** 3)
    tracemalloc.start()
    try:
        started = time.monotonic()
        lines, cursor = read(tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert lines == [b'{"dossier": "H-1"}'] and peak < 64 * 1024 * 1024
    assert load_cursor(cursor)["a.jsonl"]["unfinished"]["at"] == 19
    assert time.monotonic() - started < 60


def test_sources_quarantine_an_over_long_line(tmp_path: Path, monkeypatch) -> None:
    from isobridge.core import files
    from isobridge.adapters.caselog import CaselogOptions, CaselogSource
    from isobridge.core.adapters import AdapterContext
    from isobridge.core.privacy import Pseudonymizer
    from conftest import pull_and_map
    monkeypatch.setattr(files, "MAX_LINE_BYTES", 4000)
    records = write_cases(tmp_path / "x.jsonl", 2)
    (tmp_path / "in").mkdir()
    big = orjson.dumps(dict(records[0], dossier="BIG", agency="x" * 5000))
    (tmp_path / "in" / "a.jsonl").write_bytes(orjson.dumps(records[0]) + b"\n" + big + b"\n" + orjson.dumps(records[1]) + b"\n")
    source = CaselogSource(CaselogOptions(adapter="caselog", folder=tmp_path / "in", settle_seconds=0),
                           AdapterContext("onestop", Pseudonymizer("k")))
    fragments, errors, _ = pull_and_map(source)
    assert len(fragments) == 2
    ((key, reasons),) = errors.items()
    assert reasons == [f"a line of {len(big) + 1} bytes, above the limit of 4000: not read"]
    record = next(r for page in source.pages(None) for r in page.records if r.key == key)
    assert source.quarantine_payload(record) == f"{key} ({len(big) + 1} bytes)"


def test_the_csv_source_quarantines_an_over_long_line(tmp_path: Path, monkeypatch) -> None:
    from isobridge.core import files
    from isobridge.adapters.csv import CsvOptions, CsvSource
    from isobridge.core.adapters import AdapterContext
    from isobridge.core.privacy import Pseudonymizer
    from conftest import pull_and_map
    monkeypatch.setattr(files, "MAX_LINE_BYTES", 4000)
    fixture = Path(__file__).parent / "fixtures" / "docsrc" / "csv" / "mot-cua-2025-07.csv"
    header, first, second = fixture.read_bytes().split(b"\n")[:3]
    big = second.replace(b"UBND x", b"UBND " + b"x" * 5000)
    (tmp_path / "x.csv").write_bytes(b"\n".join([header, first, big, second]) + b"\n")
    source = CsvSource(CsvOptions(adapter="csv", folder=tmp_path, settle_seconds=0),
                       AdapterContext("xuat-excel", Pseudonymizer("k")))
    fragments, errors, _ = pull_and_map(source)
    assert len(fragments) == 2
    ((key, reasons),) = errors.items()
    assert reasons == [f"{key}: a line of {len(big) + 1} bytes, above the limit of 4000: not read"]


def test_only_the_page_where_reading_stopped_notes_an_unfinished_line(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(b"one\ntwo\nthree\nfour\nfiv")
    pages = list(read_line_blocks(tmp_path, "*.jsonl", None, page_lines=2, settle_seconds=0))
    notes = [load_cursor(cursor)["a.jsonl"].get("unfinished") for _, cursor in pages]
    assert notes[:-1] == [None] * (len(pages) - 1) and notes[-1] == {"at": 19, "bytes": 3}
