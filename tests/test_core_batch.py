"""Batch evaluation: workers reading byte ranges give the same bytes as the one-process stream."""

from __future__ import annotations

import io
import json
import os
import signal
import threading
from concurrent.futures.process import BrokenProcessPool

import orjson
import pytest

from isobridge.core import samples
from isobridge.core.batch import RejectSink, evaluate_file, evaluate_stream, line_ranges
from isobridge.core.calendar import WorkingCalendar
from isobridge.core.engine import Evaluator
from isobridge.core.generate import CaseLogGenerator
from isobridge.core.procedures import ProcedureBook

AS_OF = 1_793_466_000  # 2026-11-01T00:00:00+07:00


@pytest.fixture(scope="module")
def sample_evaluator() -> Evaluator:
    """The bundled sample procedures and calendar."""
    book = ProcedureBook.from_dir(samples.PROCEDURES)
    return Evaluator(book, WorkingCalendar.from_file(samples.CALENDAR), AS_OF)


def messy_log(evaluator: Evaluator, count: int = 120) -> bytes:
    """Generated dossiers mixed with bad, blank, CRLF and whitespace lines; no final newline."""
    records = list(CaseLogGenerator(evaluator.procedures, evaluator.calendar, seed=3).records(count))
    lines: list[bytes] = []
    for number, record in enumerate(records):
        text = orjson.dumps(record)
        match number % 11:
            case 1:
                lines.append(text[:-7])  # truncated JSON
            case 3:
                lines += [b"", b"  \t"]
                lines.append(text)
            case 5:
                lines.append(text + b"\r")
            case 7:
                record["events"][0]["at"] = "2025-02-30T08:00:00+07:00"
                lines.append(orjson.dumps({**record, "status": 0}))
            case 9:
                lines.append(orjson.dumps({**record, "procedure": "0.000000"}))
            case _:
                lines.append(text)
    return b"\n".join(lines)


def run_stream(evaluator: Evaluator, data: bytes, tmp_path) -> tuple[bytes, bytes, object]:
    out, rejects = io.BytesIO(), RejectSink(tmp_path / "stream.rejects.jsonl")
    totals = evaluate_stream(evaluator, io.BytesIO(data).readlines(), out, rejects, workers=1)
    rejects.close()
    return out.getvalue(), (tmp_path / "stream.rejects.jsonl").read_bytes(), totals


@pytest.mark.parametrize("range_bytes", [1, 700, 5000, 1 << 20])
def test_byte_ranges_match_the_stream(sample_evaluator, tmp_path, range_bytes):
    data = messy_log(sample_evaluator)
    cases = tmp_path / "cases.jsonl"
    cases.write_bytes(data)
    expected, expected_rejects, expected_totals = run_stream(sample_evaluator, data, tmp_path)
    for target in (open(tmp_path / "evidence.jsonl", "wb"), io.BytesIO()):  # a real file, then no descriptor
        rejects = RejectSink(tmp_path / "file.rejects.jsonl")
        totals = evaluate_file(sample_evaluator, cases, target, rejects, workers=2, range_bytes=range_bytes)
        rejects.close()
        if isinstance(target, io.BytesIO):
            written = target.getvalue()
        else:
            target.close()
            written = (tmp_path / "evidence.jsonl").read_bytes()
        assert written == expected
        assert (tmp_path / "file.rejects.jsonl").read_bytes() == expected_rejects
        assert totals == expected_totals
    numbers = [json.loads(line)["line"] for line in expected_rejects.splitlines()]
    assert numbers and numbers == sorted(numbers)
    assert expected_totals.summary.dossiers + expected_totals.rejects == 120


def test_line_ranges_cover_the_file_and_end_after_newlines(tmp_path):
    path = tmp_path / "lines.txt"
    data = b"a\nbb\n\nccc\ndddd"
    path.write_bytes(data)
    for size in (1, 2, 3, 5, 100):
        ranges = list(line_ranges(path, size))
        assert b"".join(data[start:end] for start, end in ranges) == data
        assert all(data[end - 1:end] == b"\n" for _, end in ranges[:-1])
    assert list(line_ranges(tmp_path / "lines.txt", 100)) == [(0, len(data))]
    (tmp_path / "empty.txt").write_bytes(b"")
    assert list(line_ranges(tmp_path / "empty.txt")) == []


def test_line_ranges_shrink_towards_the_end_for_the_workers(tmp_path, monkeypatch):
    monkeypatch.setattr("isobridge.core.batch.TAIL_BYTES", 10)
    path = tmp_path / "lines.txt"
    data = b"".join(b"%04d\n" % number for number in range(400))  # 2000 bytes, 5-byte lines
    path.write_bytes(data)
    ranges = list(line_ranges(path, 300, workers=2))
    sizes = [end - start for start, end in ranges]
    assert b"".join(data[start:end] for start, end in ranges) == data
    assert all(data[end - 1:end] == b"\n" for _, end in ranges)
    assert sizes[0] == 300 and max(sizes) == 300
    assert sizes == sorted(sizes, reverse=True)  # never a big range after a small one
    assert sizes[-2] <= 15  # the tail is cut fine
    for (start, end), size in zip(ranges, sizes):
        assert size <= max((len(data) - start) // 4 + 5, 15)  # a quarter of the rest, whole lines


def test_workers_write_a_pipe_in_input_order(sample_evaluator, tmp_path):
    """Workers append their ranges' evidence to the descriptor themselves; a pipe shows the order."""
    data = messy_log(sample_evaluator, 300)
    cases = tmp_path / "cases.jsonl"
    cases.write_bytes(data)
    expected, expected_rejects, expected_totals = run_stream(sample_evaluator, data, tmp_path)
    read_end, write_end = os.pipe()
    received: list[bytes] = []

    def drain() -> None:
        with os.fdopen(read_end, "rb") as pipe:
            received.append(pipe.read())

    reader = threading.Thread(target=drain)
    reader.start()
    with os.fdopen(write_end, "wb") as out:
        out.write(b"")  # nothing buffered must be lost or reordered
        rejects = RejectSink(tmp_path / "pipe.rejects.jsonl")
        totals = evaluate_file(sample_evaluator, cases, out, rejects, workers=2, range_bytes=3000)
        rejects.close()
    reader.join(timeout=60)
    assert received == [expected]
    assert (tmp_path / "pipe.rejects.jsonl").read_bytes() == expected_rejects
    assert totals == expected_totals


class DyingEvaluator(Evaluator):
    """Its worker process dies (as if killed by the OOM killer) on the 50th dossier it evaluates."""

    count = 0

    def evaluate_line(self, line):
        DyingEvaluator.count += 1
        if DyingEvaluator.count == 50:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().evaluate_line(line)


@pytest.mark.parametrize("from_file", [True, False])
def test_a_worker_that_dies_fails_the_batch_instead_of_hanging(sample_evaluator, tmp_path, from_file):
    dying = DyingEvaluator(sample_evaluator.procedures, sample_evaluator.calendar, AS_OF)
    data = messy_log(sample_evaluator, 400)
    (tmp_path / "cases.jsonl").write_bytes(data)
    with open(tmp_path / "evidence.jsonl", "wb") as out, pytest.raises(BrokenProcessPool):
        rejects = RejectSink(tmp_path / "rejects.jsonl")
        if from_file:
            evaluate_file(dying, tmp_path / "cases.jsonl", out, rejects, workers=2, range_bytes=4096)
        else:
            evaluate_stream(dying, io.BytesIO(data).readlines(), out, rejects, workers=2)


@pytest.mark.parametrize("workers, range_bytes", [(1, 0), (2, 700), (2, 5000)])
def test_a_line_too_long_is_rejected_unread_and_the_rest_evaluated(sample_evaluator, tmp_path, monkeypatch,
                                                                   workers, range_bytes):
    """A line above the limit (here 3 000 bytes; 16 MiB in use) is one reject naming its length and
    where it lies, never read whole; the lines around it are evaluated as without it."""
    import isobridge.core.batch as batch

    monkeypatch.setattr(batch, "MAX_LINE_BYTES", 3000)
    records = list(CaseLogGenerator(sample_evaluator.procedures, sample_evaluator.calendar, seed=5).records(40))
    lines = [orjson.dumps(record) for record in records]
    huge = b'{"dossier": "HUGE", "note": "' + b"x" * 20_000 + b'"}'
    cases = tmp_path / "cases.jsonl"
    cases.write_bytes(b"\n".join(lines[:17] + [huge] + lines[17:]) + b"\n")
    (tmp_path / "short.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    out, rejects = io.BytesIO(), RejectSink(tmp_path / "rejects.jsonl")
    totals = evaluate_file(sample_evaluator, cases, out, rejects, workers=workers, range_bytes=range_bytes or 1 << 20)
    rejects.close()
    expected = io.BytesIO()
    evaluate_file(sample_evaluator, tmp_path / "short.jsonl", expected, RejectSink(tmp_path / "none.jsonl"), workers=1)
    assert out.getvalue() == expected.getvalue() and totals.summary.dossiers == 40
    (reject,) = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_bytes().splitlines()]
    assert reject["line"] == 18 and len(reject["errors"]) == 1
    assert reject["errors"][0].startswith(f"line of {len(huge) + 1} bytes, above the limit of 3000: not read")


def test_bounded_lines_never_hold_more_than_the_limit(monkeypatch):
    from isobridge.core.batch import Overlong, bounded_lines

    reads: list[int] = []
    source = io.BytesIO(b"short\n" + b"y" * 10_000 + b"\nlast")
    original = source.readline
    monkeypatch.setattr(source, "readline", lambda size=-1: (reads.append(size), original(size))[1])
    lines = list(bounded_lines(source, 1000))
    assert lines[0] == b"short\n" and type(lines[1]) is Overlong and lines[2] == b"last"
    assert "line of 10001 bytes" in lines[1].reason
    assert max(reads) == 1001  # never an unbounded read
