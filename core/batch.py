"""Streaming evaluation of case-log JSON Lines into evidence JSON Lines, on every core.

Lines are read in chunks; each chunk is evaluated (in worker processes when there is more than
one core) and written back in input order. Memory stays flat whatever the input size. A line
that cannot be evaluated becomes a :class:`Reject` with its line number, text and reasons.
"""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass, field
from typing import IO, Iterable, Iterator

import orjson

from .caselog import RecordError
from .engine import Evaluator
from .models import IndicatorSummary

CHUNK_LINES = 2000


@dataclass
class Reject:
    """A case-log line that could not be evaluated."""

    line: int
    text: str
    errors: list[str]

    def to_json(self) -> bytes:
        """One JSON line for a rejects file."""
        return orjson.dumps({"line": self.line, "text": self.text, "errors": self.errors})


@dataclass
class ChunkResult:
    """Evidence lines, rejects and counts of one chunk."""

    evidence: bytes
    rejects: list[Reject]
    summary: IndicatorSummary
    events: int


def evaluate_line(evaluator: Evaluator, text: bytes) -> tuple[dict, int]:
    """Decode and evaluate one case-log line into (evidence, event count); raises RecordError."""
    try:
        record = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise RecordError([f"invalid JSON: {exc}"]) from None
    evidence = evaluator.evaluate_record(record)
    return evidence, len(record["events"]) if "events" in record else 0


def evaluate_chunk(evaluator: Evaluator, chunk: list[tuple[int, bytes]]) -> ChunkResult:
    """Evaluate numbered lines, collecting evidence, rejects and indicator counts."""
    out: list[bytes] = []
    rejects: list[Reject] = []
    verdicts: dict[str, int] = {}
    events = nonconformities = 0
    dumps, loads, evaluate = orjson.dumps, orjson.loads, evaluator.evaluate_record
    for number, text in chunk:
        try:
            try:
                record = loads(text)
            except orjson.JSONDecodeError as exc:
                raise RecordError([f"invalid JSON: {exc}"]) from None
            evidence = evaluate(record)
        except RecordError as exc:
            rejects.append(Reject(number, text.decode("utf-8", "replace").rstrip("\r\n"), exc.errors))
            continue
        verdict = evidence["verdict"]
        verdicts[verdict] = verdicts.get(verdict, 0) + 1
        nonconformities += len(evidence["nonconformities"])
        events += len(record["events"]) if "events" in record else 0
        out.append(dumps(evidence))
    out.append(b"")
    summary = IndicatorSummary(dossiers=len(out) - 1, received=len(out) - 1, nonconformities=nonconformities,
                               **verdicts)
    return ChunkResult(b"\n".join(out), rejects, summary, events)


def numbered_chunks(lines: Iterable[bytes], size: int = CHUNK_LINES) -> Iterator[list[tuple[int, bytes]]]:
    """Group non-blank lines into chunks of (line number, text)."""
    chunk: list[tuple[int, bytes]] = []
    for number, text in enumerate(lines, 1):
        if not text or text.isspace():
            continue
        chunk.append((number, text))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


_WORKER: Evaluator | None = None


def _init_worker(evaluator: Evaluator) -> None:
    global _WORKER
    _WORKER = evaluator


def _work(chunk: list[tuple[int, bytes]]) -> ChunkResult:
    assert _WORKER is not None
    return evaluate_chunk(_WORKER, chunk)


@dataclass
class BatchTotals:
    """What a whole batch produced."""

    summary: IndicatorSummary = field(default_factory=IndicatorSummary)
    rejects: int = 0
    events: int = 0


def evaluate_stream(evaluator: Evaluator, lines: Iterable[bytes], out: IO[bytes],
                    rejects: "RejectSink", workers: int | None = None) -> BatchTotals:
    """Evaluate a case-log stream into `out`; rejected lines go to `rejects`."""
    workers = workers if workers is not None else min(os.cpu_count() or 1, 4)
    totals = BatchTotals()
    chunks = numbered_chunks(lines)
    if workers <= 1:
        results: Iterable[ChunkResult] = (evaluate_chunk(evaluator, c) for c in chunks)
        _drain(results, out, rejects, totals)
        return totals
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_init_worker, initargs=(evaluator,)) as pool:
        _drain(pool.imap(_work, chunks, chunksize=1), out, rejects, totals)
    return totals


def _drain(results: Iterable[ChunkResult], out: IO[bytes], rejects: "RejectSink", totals: BatchTotals) -> None:
    for result in results:
        out.write(result.evidence)
        for reject in result.rejects:
            rejects.add(reject)
        totals.rejects += len(result.rejects)
        totals.events += result.events
        totals.summary.merge(result.summary)


class RejectSink:
    """Writes rejected lines to a JSON Lines file, created only when the first one arrives."""

    def __init__(self, path: str | os.PathLike):
        self.path = path
        self._file: IO[bytes] | None = None

    def add(self, reject: Reject) -> None:
        """Append one reject."""
        if self._file is None:
            self._file = open(self.path, "wb")
        self._file.write(reject.to_json() + b"\n")

    def close(self) -> None:
        """Flush and close the file if one was opened."""
        if self._file is not None:
            self._file.close()
