"""Staging a sync page: map, merge with the stored dossier, hash, evaluate.

This is everything a sync does per dossier, so it runs in the evaluation workers (forked
processes, each reading the ledger on a read-only connection of its own) while the main process
stores and delivers the page before. Small pages and `workers = 1` stage inline.

A worker may read a dossier that the page before changes but has not stored yet; the main
process sees that (the dossier codes of both pages meet) and stages such dossiers again, inline,
once the page before is stored. The same holds for a dossier whose records fell into two chunks
of a page, or into two groups of a chunk.
"""

from __future__ import annotations

import hashlib
import os
from datetime import datetime
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import orjson

from .adapters import RawRecord, Source
from .caselog import RecordError
from .engine import Evaluator
from .ledger import BLOBS, StoredDossier, stored_dossiers
from .ledger_db import Database, connect
from .merge import StepAuthority, admit, check_fragment, merge, waiting_for
from .privacy import Pseudonymizer
from .workers import exit_with_parent

if TYPE_CHECKING:
    from .settings import LedgerSettings

GROUP = 16
"""Records (or dossiers) staged together: few enough that their objects are still in the CPU
cache when they are merged and evaluated right after mapping (groups of 250 measured 60 % slower
per dossier), many enough that one ledger query looks them all up."""
Fragments = dict[str, list[tuple[dict, int]]]
"""Fragments by dossier code, each with the index (in its page) of the record it came from."""


Row = tuple
"""A dossier's ledger row: (dossier, source, record, record_hash, revision, evidence, verdict, state,
recheck_at), record and evidence in their stored (compressed) form; then the new evidence's plain
JSON (or None) for the sinks, which is not stored; then the base: the stored (hash, revision) it
was staged against (None: not stored), which the ledger checks before writing it."""
STORED = 9
"""How many leading fields of a `Row` the ledger stores."""
BASE = STORED + 1
"""Where a `Row` keeps the stored (hash, revision) it was staged against."""
OPEN_VERDICTS = frozenset({"open_on_time", "open_overdue"})
Transport = tuple[int, str, "str | None", object]
"""A raw record on its way to a worker: (index, key, payload or None when `data` is set, data)."""


class ChunkResult(NamedTuple):
    """What staging some records produced."""

    touched: dict[str, list[int]]
    """Every dossier the records touched (changed or not), with the indexes of its records."""
    failures: list[tuple[int, list[str]]]
    """Records that could not be mapped: (index, errors)."""
    rows: list[Row]
    """The ledger rows of the changed dossiers (an unchanged one yields none), in plain tuples:
    they travel back from the workers, and pickling plain tuples is cheapest."""
    errors: dict[str, list[str]]
    """Why dossiers whose row is `failed` could not be evaluated."""
    again: list[str]
    """Dossiers whose records came in two groups of the chunk: staged from part of their
    records, so the main process stages them again from all of them."""
    dropped: Counter
    """Fields the sources gave that are not stored (not on the allow-list), by name: how often."""

    @classmethod
    def empty(cls) -> "ChunkResult":
        """A result to stage into."""
        return cls({}, [], [], {}, [], Counter())

    def without(self, codes: set[str]) -> "ChunkResult":
        """This result less the rows and errors of `codes` (staged again elsewhere)."""
        rows = [row for row in self.rows if row[0] not in codes]
        return self._replace(rows=rows, errors={c: e for c, e in self.errors.items() if c not in codes})


class LedgerReader:
    """Read-only lookups of stored dossiers on a connection of its own, opened on first use
    (so a forked worker never touches its parent's connection)."""

    def __init__(self, settings: "LedgerSettings"):
        self.settings = settings
        self._db: Database | None = None

    def __call__(self, codes: Iterable[str]) -> dict[str, StoredDossier]:
        if self._db is None:
            self._db = connect(self.settings, read_only=True)
        return stored_dossiers(self._db, codes)


@dataclass
class Stager:
    """Stages records of one source into changed dossiers."""

    source_name: str
    source: Source
    evaluator: Evaluator
    pseudonymizer: Pseudonymizer
    lookup: Callable[[Iterable[str]], dict[str, StoredDossier]]
    authority: StepAuthority = field(default_factory=StepAuthority)
    dropped: Counter = field(default_factory=Counter)
    """Fields dropped by `admit` since the last `take_dropped`."""

    def map_records(self, records: Iterable[tuple[int, RawRecord]]) -> tuple[Fragments, list[tuple[int, list[str]]]]:
        """Checked, admitted (see `merge.admit`), pseudonymised fragments by dossier, and the
        records that could not be mapped. This is where every source's fragments enter the core.

        A record is all or nothing: one bad fragment quarantines it whole.
        """
        fragments: Fragments = {}
        failures: list[tuple[int, list[str]]] = []
        scrub, source_map, name, dropped = self.pseudonymizer.scrub_fragment, self.source.map, self.source_name, self.dropped
        for index, raw in records:
            try:
                mapped = [scrub(admit(check_fragment(fragment), name, dropped)) for fragment in source_map(raw)]
            except RecordError as exc:
                failures.append((index, exc.errors))
                continue
            except Exception as exc:  # an adapter bug must not lose the record
                failures.append((index, [f"{type(exc).__name__}: {exc}"]))
                continue
            for fragment in mapped:
                fragments.setdefault(fragment["dossier"], []).append((fragment, index))
        return fragments, failures

    def stage_records(self, records: list[tuple[int, RawRecord]]) -> ChunkResult:
        """Map records, then stage the dossiers they touch, a small group at a time."""
        result = ChunkResult.empty()
        for start in range(0, len(records), GROUP):
            fragments, failures = self.map_records(records[start : start + GROUP])
            result.failures.extend(failures)
            for code in [code for code in fragments if code in result.touched]:
                result.touched[code] = result.touched[code] + [index for _, index in fragments.pop(code)]
                result.again.append(code)
            self._stage_into(result, fragments)
        result.dropped.update(self.take_dropped())
        return result

    def take_dropped(self) -> Counter:
        """The fields dropped since the last call (and forget them)."""
        dropped, self.dropped = self.dropped, Counter()
        return dropped

    def stage_transported(self, records: list[Transport]) -> ChunkResult:
        """`stage_records` for records sent to a worker (see `transport`)."""
        return self.stage_records([(index, RawRecord(key, payload or "", data)) for index, key, payload, data in records])

    def stage(self, fragments: Fragments) -> ChunkResult:
        """Merge fragments into the stored dossiers; evaluate those that changed."""
        result, items = ChunkResult.empty(), list(fragments.items())
        for start in range(0, len(items), GROUP):
            self._stage_into(result, dict(items[start : start + GROUP]))
        return result

    def _stage_into(self, result: ChunkResult, fragments: Fragments) -> None:
        stored = self.lookup(fragments) if fragments else {}
        for code, items in fragments.items():
            result.touched[code] = [index for _, index in items]
            row = self.dossier(code, [fragment for fragment, _ in items], stored.get(code), result.errors)
            if row is not None:
                result.rows.append(row)

    def dossier(self, code: str, fragments: list[dict], stored: StoredDossier | None,
                errors: dict[str, list[str]]) -> Row | None:
        """Merge, and evaluate when the merged dossier changed (None: unchanged, already evaluated).

        A changed dossier whose evidence came out the same keeps its revision (its row carries no
        evidence). Evaluation errors go to `errors` under the dossier's code, its row is `failed`.
        """
        record = merge(orjson.loads(stored[0]) if stored else None, fragments)
        blob = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
        digest = hashlib.blake2b(blob, digest_size=16).hexdigest()
        if stored and stored[1] == digest and stored[3]:
            return None
        if waiting_for(record):
            return (code, self.source_name, BLOBS.pack(blob), digest, stored[2] if stored else 0, None, None, "pending",
                    None, None, base(stored))
        return evaluated_row(self.evaluator, self.authority, code, self.source_name, record, blob, digest,
                             stored, errors)


def evaluated_row(evaluator: Evaluator, authority: StepAuthority, code: str, source: str, record: dict,
                  blob: bytes, digest: str, stored: StoredDossier | None, errors: dict[str, list[str]]) -> Row:
    """Evaluate a merged dossier into its ledger row: a new revision only when the evidence changed.

    Evaluation errors go to `errors` under the dossier's code, its row is `failed`.
    """
    revision, staged_on = (stored[2] if stored else 0), base(stored)
    try:  # the fields evaluation reads are checked JSON text (or checked by it): what is stored
        evidence = evaluator.evaluate_record(authority.view(record))
        value = orjson.dumps(evidence)
    except RecordError as exc:
        errors[code] = exc.errors
    except Exception as exc:  # a defect must cost one dossier, never the run
        errors[code] = [f"cannot be evaluated: {type(exc).__name__}: {exc}"]
    else:
        recheck, packed = next_change(evidence), BLOBS.pack(value)
        if stored and stored[3] is not None and BLOBS.same(stored[3], value, packed):  # the JSON, not the bytes
            return (code, source, BLOBS.pack(blob), digest, revision, None, None, "evaluated", recheck, None, staged_on)
        return (code, source, BLOBS.pack(blob), digest, revision + 1, packed, evidence["verdict"],
                "evaluated", recheck, value, staged_on)
    # keep the record and the last good evidence; an empty hash makes it evaluate again
    return (code, source, BLOBS.pack(blob), "", revision, None, None, "failed", None, None, staged_on)


def base(stored: StoredDossier | None) -> tuple[str, int] | None:
    """What a row is staged against: the stored (hash, revision), None when not stored."""
    return (stored[1], stored[2]) if stored else None


def next_change(evidence: dict) -> int | None:
    """The instant (epoch seconds) at which an open dossier's evidence changes with no new record:
    its effective due while it is open on time, an open step's due while that step is on time.
    None for a dossier that time alone does not change (finished, paused, ended)."""
    if evidence["verdict"] not in OPEN_VERDICTS:
        return None
    dues = [row["due_at"] for row in evidence["steps"] if row.get("verdict") == "open" and row.get("due_at")]
    if evidence["verdict"] == "open_on_time" and evidence.get("due_at"):
        dues.append(evidence["due_at"])
    return min((int(datetime.fromisoformat(due).timestamp()) for due in dues), default=None)


def transport(records: list[RawRecord]) -> list[Transport]:
    """Records as sent to the workers: a record's payload stays behind when its `data` is set
    (the payload serves the quarantine, which the main process writes); this halves the bytes."""
    return [(index, raw.key, raw.payload if raw.data is None else None, raw.data) for index, raw in enumerate(records)]


_STAGER: Stager | None = None


def init_worker(stager: Stager, inherited: tuple[int, ...] = ()) -> None:
    """Pool initializer: the stager this worker uses, and a watch that ends the worker when the
    sync process is gone (killed with -9, say), so no worker outlives it waiting for tasks.

    `inherited` are descriptors of the sync's own ledger connection, which the fork copied: the
    worker closes its copies (without a word on the wire), so that the connection ends the moment
    the sync process does, and the server releases its locks then, not when the last worker goes."""
    global _STAGER
    _STAGER = stager
    for descriptor in inherited:
        try:
            os.close(descriptor)
        except OSError:
            pass
    exit_with_parent()


def stage_records_in_worker(records: list[Transport]) -> ChunkResult:
    """Worker task: map and stage raw records (sources with `parallel_map`)."""
    assert _STAGER is not None
    return _STAGER.stage_transported(records)


def stage_fragments_in_worker(fragments: Fragments) -> ChunkResult:
    """Worker task: stage fragments the main process mapped."""
    assert _STAGER is not None
    return _STAGER.stage(fragments)
