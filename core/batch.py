"""Streaming evaluation of case-log JSON Lines into evidence JSON Lines, on every core.

Lines are read in chunks; each chunk is evaluated (in worker processes when there is more than
one core) and written back in input order. Memory stays flat whatever the input size. A line
that cannot be evaluated becomes a :class:`Reject` with its line number, text and reasons.
"""

from __future__ import annotations

import base64
import gc
import multiprocessing
import os
import unicodedata
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Iterable, Iterator

import orjson

from .caselog import RecordError
from .engine import Evaluator
from .files import MAX_LINE_BYTES
from .models import IndicatorSummary
from .workers import exit_with_parent, usable_cores

CHUNK_LINES = 2000
RANGE_BYTES = 4 << 20
"""Most bytes of case log one worker reads and evaluates at a time in :func:`evaluate_file`."""
TAIL_BYTES = 64 << 10
"""Ranges shrink towards the end of the file, down to this size, so the workers finish together."""
SCAN_BYTES = 64 << 10
"""Block size of the bounded searches for a line's end or start when splitting a file."""


@dataclass
class Reject:
    """A case-log line that could not be evaluated."""

    line: int
    text: str | None
    """The line as written, when it is UTF-8 (else None and the bytes are in `raw`)."""
    errors: list[str]
    raw: bytes | None = None
    """The line's bytes when they are not UTF-8: kept exactly, never decoded with U+FFFD."""

    @classmethod
    def of(cls, number: int, line: bytes | memoryview, errors: list[str]) -> "Reject":
        """A reject keeping the line exactly (its text, or its bytes if it is not UTF-8)."""
        data = bytes(line).rstrip(b"\r\n")
        try:
            return cls(number, data.decode("utf-8"), errors)
        except UnicodeDecodeError as exc:
            reason = f"line is not UTF-8 (byte {exc.start + 1})"
            return cls(number, None, [reason, *errors], data)

    def to_json(self) -> bytes:
        """One JSON line for a rejects file (`base64` holds a line that is not UTF-8)."""
        line = {"line": self.line, "text": self.text, "errors": self.errors}
        if self.raw is not None:
            line["base64"] = base64.b64encode(self.raw).decode("ascii")
        return orjson.dumps(line)


class Overlong(bytes):
    """Stands for a line longer than :data:`MAX_LINE_BYTES`, which is not read (an empty bytes
    object: nothing of the line is kept in memory); `reason` says how long it was and where."""

    reason: str

    @classmethod
    def of(cls, length: int, start: int | None = None) -> "Overlong":
        """The marker of a line of `length` bytes (starting at byte `start` of the file, if known)."""
        marker = cls()
        where = f" (bytes {start}–{start + length} of the file)" if start is not None else ""
        marker.reason = f"line of {length} bytes, above the limit of {MAX_LINE_BYTES}: not read{where}"
        return marker


def bounded_lines(source: IO[bytes], limit: int | None = None) -> Iterator[bytes]:
    """The lines of a binary stream, each read with at most `limit` (default
    :data:`MAX_LINE_BYTES`) bytes in memory; a longer one is skipped in pieces and comes as an
    :class:`Overlong` marker, so a file without line ends cannot fill memory."""
    limit = MAX_LINE_BYTES if limit is None else limit
    readline = source.readline
    while line := readline(limit + 1):
        if len(line) <= limit or line.endswith(b"\n"):
            yield line
            continue
        length = len(line)
        while not line.endswith(b"\n") and (line := readline(limit)):
            length += len(line)
        yield Overlong.of(length)


BOM = b"\xef\xbb\xbf"
_COMBINING = b"\xcc"
"""The UTF-8 lead byte of U+0300–U+033F: every combining mark a decomposed (NFD) Vietnamese text
uses (grave, acute, tilde, hook, dot below, circumflex, breve, horn) starts with it."""


def edge_line(text: bytes) -> bytes:
    """A case-log line as the engine should read it: without a byte order mark, in Unicode NFC.

    The common line (no BOM, no combining mark) is returned as it is, after two byte searches.
    """
    if text.startswith(BOM):
        text = text[3:]
    if _COMBINING not in text:
        return text
    try:
        return unicodedata.normalize("NFC", text.decode("utf-8")).encode("utf-8")
    except UnicodeDecodeError:
        return text  # the engine refuses it with its reason


def _needs_edge(data: bytearray, start: int, stop: int) -> bool:
    """Whether bytes [start, stop) of `data` hold a BOM or a combining mark (see :func:`edge_line`)."""
    return (data[start] == 0xEF and data.startswith(BOM, start)) or data.find(_COMBINING, start, stop) >= 0


@dataclass
class ChunkResult:
    """Evidence lines, rejects and counts of one chunk."""

    evidence: bytes
    rejects: list[Reject]
    summary: IndicatorSummary
    events: int


def evaluate_chunk(evaluator: Evaluator, chunk: Iterable[tuple[int, bytes | memoryview]]) -> ChunkResult:
    """Evaluate numbered lines, collecting evidence, rejects and indicator counts."""
    buffer = bytearray()
    _, result = evaluate_into(evaluator, chunk, buffer)  # a fresh buffer holds only this evidence
    result.evidence = bytes(buffer)
    return result


def evaluate_into(evaluator: Evaluator, chunk: Iterable[tuple[int, bytes | memoryview]],
                  buffer: bytearray) -> tuple[int, ChunkResult]:
    """Like :func:`evaluate_chunk`, but the evidence lines go into `buffer` from its start.

    Returns how many bytes of `buffer` are evidence, and the result without evidence. `buffer`
    only ever grows, so a caller that reuses it for chunk after chunk touches no fresh memory:
    page faults are costly (notably in virtual machines), and a list of evidence lines joined at
    the end would fault in new pages for every chunk.
    """
    rejects: list[Reject] = []
    verdicts: dict[str, int] = {}
    events = nonconformities = evaluated = size = 0
    dumps, evaluate, newline = orjson.dumps, evaluator.evaluate_line, orjson.OPT_APPEND_NEWLINE
    for number, text in chunk:
        try:
            evidence, count = evaluate(text)
        except Exception as exc:  # a bad line, or a defect: either costs one line, never the run
            errors = [text.reason] if isinstance(text, Overlong) else exc.errors if isinstance(exc, RecordError) else [
                f"cannot be evaluated: {type(exc).__name__}: {exc}"]
            rejects.append(Reject.of(number, text, errors))
            continue
        verdict = evidence["verdict"]
        verdicts[verdict] = verdicts.get(verdict, 0) + 1
        nonconformities += len(evidence["nonconformities"])
        events += count
        line = dumps(evidence, option=newline)
        end = size + len(line)
        buffer[size:end] = line  # in place while the buffer is big enough, else it grows
        size = end
        evaluated += 1
    summary = IndicatorSummary(dossiers=evaluated, received=evaluated, nonconformities=nonconformities, **verdicts)
    return size, ChunkResult(b"", rejects, summary, events)


def numbered_chunks(lines: Iterable[bytes], size: int = CHUNK_LINES) -> Iterator[list[tuple[int, bytes]]]:
    """Group non-blank lines into chunks of (line number, text)."""
    chunk: list[tuple[int, bytes]] = []
    for number, text in enumerate(lines, 1):
        if type(text) is Overlong:
            chunk.append((number, text))
        elif not text or text.isspace():
            continue
        else:
            chunk.append((number, edge_line(text)))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


_WORKER: Evaluator | None = None
_OUTPUT: "_OrderedOutput | None" = None


def _init_worker(evaluator: Evaluator, output: "_OrderedOutput | None" = None) -> None:
    global _WORKER, _OUTPUT
    _WORKER, _OUTPUT = evaluator, output
    exit_with_parent()
    gc.freeze()  # what the worker inherited stays: collections need not look at it again


def _work(chunk: list[tuple[int, bytes]]) -> ChunkResult:
    assert _WORKER is not None
    return evaluate_chunk(_WORKER, chunk)


class _OrderedOutput:
    """Lets worker processes append their ranges' evidence to one descriptor, in input order.

    Range `index` may write once every range before it has written: a shared counter says whose
    turn it is. The workers inherit the descriptor (and its file offset) through fork, so the
    evidence goes from each worker's memory straight to the output, without passing through
    the parent process, which would compete with the workers for the cores.
    """

    def __init__(self, context, target: int):
        self.target = target
        self.turn = context.Value("q", 0, lock=False)
        self.changed = context.Condition()

    def write(self, index: int, data: bytes | memoryview) -> None:
        """Wait for range `index`'s turn, write `data`, pass the turn on."""
        with self.changed:
            while self.turn.value != index:
                self.changed.wait()
        view = memoryview(data)
        while view:
            view = view[os.write(self.target, view):]
        with self.changed:
            self.turn.value = index + 1
            self.changed.notify_all()


_BLANK = frozenset(b" \t\n\r\x0b\x0c")


class _NumberedLines:
    """The non-blank lines of `data[:size]` (each with its newline) as (number from 1, memoryview).

    The views share `data`'s memory. Once iterated, `count` is the number of lines, blank ones
    included (counted on the way, not in a second pass over the data).
    """

    def __init__(self, data: bytearray, size: int):
        self.data, self.size, self.count = data, size, 0

    def __iter__(self) -> Iterator[tuple[int, memoryview]]:
        data, size = self.data, self.size
        find = data.find
        number = position = 0
        with memoryview(data) as view:
            while position < size:
                newline = find(b"\n", position, size)
                stop = size if newline < 0 else newline + 1
                number += 1
                if data[position] not in _BLANK or not data[position:stop].isspace():
                    if _needs_edge(data, position, stop):
                        yield number, edge_line(bytes(view[position:stop]))
                    else:
                        yield number, view[position:stop]
                position = stop
        self.count = number


_INPUT = bytearray()
_EVIDENCE = bytearray()
"""A worker's case-log and evidence buffers, reused range after range (see :func:`evaluate_into`)."""


def _read_range(path: str, start: int, end: int) -> int:
    """Read bytes [start, end) of `path` into the start of `_INPUT`; how many were read."""
    if len(_INPUT) < end - start:
        _INPUT.extend(bytes(end - start - len(_INPUT)))
    with open(path, "rb", buffering=0) as source, memoryview(_INPUT) as view:
        source.seek(start)
        read = 0
        while read < end - start:
            count = source.readinto(view[read:end - start])
            if not count:
                break
            read += count
    return read


def _work_range(path: str, start: int, end: int, index: int, overlong: bool = False) -> tuple[ChunkResult, int]:
    """Evaluate the lines in bytes [start, end) of `path`, range number `index` of the file.

    Returns the result (lines numbered from 1 within the range) and the number of lines read.
    With an ordered output the evidence is already written there (the result's is empty). An
    `overlong` range is one line too long to read: it is rejected unread (see :func:`checked_ranges`).
    """
    assert _WORKER is not None
    if overlong:
        result = ChunkResult(b"", [Reject(1, None, [Overlong.of(end - start, start).reason])], IndicatorSummary(), 0)
        if _OUTPUT is not None:
            _OUTPUT.write(index, b"")  # its turn in the ordered output, with nothing
        return result, 1
    lines = _NumberedLines(_INPUT, _read_range(path, start, end))
    size, result = evaluate_into(_WORKER, lines, _EVIDENCE)
    if _OUTPUT is None:
        result.evidence = bytes(_EVIDENCE[:size])
        return result, lines.count
    with memoryview(_EVIDENCE) as evidence:
        _OUTPUT.write(index, evidence[:size])
    return result, lines.count


def line_ranges(path: str | os.PathLike, size: int = RANGE_BYTES,
                workers: int = 0) -> Iterator[tuple[int, int]]:
    """Split a file into byte ranges of about `size` bytes that end just after a newline (or at EOF).

    With `workers`, a range is at most 1/(2 × workers) of what is left (but not under
    TAIL_BYTES), so the last ranges are small and no worker is left alone with a big one.
    """
    return ((start, end) for start, end, _ in checked_ranges(path, size, workers))


def checked_ranges(path: str | os.PathLike, size: int = RANGE_BYTES,
                   workers: int = 0) -> Iterator[tuple[int, int, bool]]:
    """:func:`line_ranges`, each with whether it is one line too long to read: a line running
    more than :data:`MAX_LINE_BYTES` past a range's planned end is a range of its own, marked
    True, found with bounded reads (a file without line ends never fills memory)."""
    with open(path, "rb") as source:
        total = os.fstat(source.fileno()).st_size
        start = 0
        while start < total:
            step = min(size, max((total - start) // (2 * workers), TAIL_BYTES)) if workers else size
            split = min(start + step, total) - 1
            end = _after_newline(source, split, total, MAX_LINE_BYTES)
            if end is not None:
                yield start, end, False
            else:  # the line across the split is too long: the lines before it, then the line alone
                begin = _line_start(source, start, split)
                if begin > start:
                    yield start, begin, False
                end = _after_newline(source, split, total, None)
                yield begin, end, True
            start = end


def _after_newline(source: IO[bytes], position: int, total: int, limit: int | None) -> int | None:
    """Where the line holding byte `position` ends (after its newline, or at EOF), read in blocks;
    None when that is more than `limit` bytes on."""
    source.seek(position)
    scanned = 0
    while block := source.read(SCAN_BYTES):
        found = block.find(b"\n")
        if limit is not None and (scanned + found if found >= 0 else scanned + len(block)) > limit:
            return None
        if found >= 0:
            return position + scanned + found + 1
        scanned += len(block)
    return total


def _line_start(source: IO[bytes], start: int, position: int) -> int:
    """Where the line holding byte `position` starts (`start`, a line's start, at the earliest)."""
    end = position
    while end > start:
        begin = max(start, end - SCAN_BYTES)
        source.seek(begin)
        found = source.read(end - begin).rfind(b"\n")
        if found >= 0:
            return begin + found + 1
        end = begin
    return start


def evaluate_file(evaluator: Evaluator, path: str | os.PathLike, out: IO[bytes], rejects: "RejectSink",
                  workers: int | None = None, range_bytes: int = RANGE_BYTES) -> BatchTotals:
    """Evaluate a case-log *file* into `out`, workers reading their own byte ranges of it.

    The parent only splits the file at newlines and collects counts and rejects; when `out` has a
    descriptor the workers append the evidence to it themselves, in input order (see
    :class:`_OrderedOutput`), so the parent's own work stays small. Same output, rejects and totals
    as :func:`evaluate_stream`.
    """
    workers = workers if workers is not None else usable_cores()
    if workers <= 1:
        with open(path, "rb") as lines:
            return evaluate_stream(evaluator, lines, out, rejects, 1)
    totals = BatchTotals()
    name = os.fspath(path)
    target = _file_descriptor(out)
    context = multiprocessing.get_context("fork")
    output = None
    if target is not None:
        out.flush()
        output = _OrderedOutput(context, target)
    ranges = ((name, start, end, index, overlong)
              for index, (start, end, overlong) in enumerate(checked_ranges(name, range_bytes, workers)))
    with _workers(context, workers, (evaluator, output)) as pool:
        base = 0
        for result in in_order(pool, _work_range, ranges, 2 * workers + 2):
            base = _take(result, base, out, rejects, totals)
    return totals


def _workers(context, count: int, initargs: tuple) -> ProcessPoolExecutor:
    """Forked worker processes. A worker that dies (killed, out of memory) breaks the pool, so
    the command fails with BrokenProcessPool instead of waiting forever for its lost task."""
    return ProcessPoolExecutor(count, mp_context=context, initializer=_init_worker, initargs=initargs)


def in_order(pool: ProcessPoolExecutor, task, arguments: Iterable[tuple], window: int) -> Iterator:
    """Results of `task(*args)` for each argument tuple, in order, with at most `window` tasks
    submitted and not yet taken (the input is read as the results are taken: memory stays flat)."""
    pending: deque[Future] = deque()
    for args in arguments:
        pending.append(pool.submit(task, *args))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _file_descriptor(out: IO[bytes]) -> int | None:
    """The OS file descriptor behind `out`, when it has one."""
    try:
        return out.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def _take(result: tuple[ChunkResult, int], base: int, out: IO[bytes], rejects: "RejectSink",
          totals: BatchTotals) -> int:
    """Account for one range's result, its rejects renumbered from the file's start; the next base.

    Its evidence is written here only when the worker could not write it itself.
    """
    chunk, lines = result
    for reject in chunk.rejects:
        reject.line += base
    _drain((chunk,), out, rejects, totals)
    return base + lines


@dataclass
class BatchTotals:
    """What a whole batch produced."""

    summary: IndicatorSummary = field(default_factory=IndicatorSummary)
    rejects: int = 0
    events: int = 0


def evaluate_stream(evaluator: Evaluator, lines: Iterable[bytes], out: IO[bytes],
                    rejects: "RejectSink", workers: int | None = None) -> BatchTotals:
    """Evaluate a case-log stream into `out`; rejected lines go to `rejects`."""
    workers = workers if workers is not None else usable_cores()
    totals = BatchTotals()
    chunks = numbered_chunks(bounded_lines(lines) if hasattr(lines, "readline") else lines)
    if workers <= 1:
        results: Iterable[ChunkResult] = (evaluate_chunk(evaluator, c) for c in chunks)
        _drain(results, out, rejects, totals)
        return totals
    context = multiprocessing.get_context("fork")
    with _workers(context, workers, (evaluator,)) as pool:
        _drain(in_order(pool, _work, ((chunk,) for chunk in chunks), 2 * workers + 2), out, rejects, totals)
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
