"""The sync job: pull each source since its checkpoint, merge, evaluate, deliver, checkpoint.

Order of durable steps for every page (this is what makes a kill -9 at any instant safe):

1. one transaction stores the merged dossiers, their new evidence revisions (appended to the
   revision log) and the page's quarantine entries;
2. every sink this run holds the delivery lock of receives the log after its delivered mark and
   acknowledges; each acknowledgement is one transaction that moves the mark and stores the
   sink's own state (e.g. file offset) (`delivery.py`; sinks another process holds are delivered
   to by it, or by this run at its end);
3. then a transaction moves the source's checkpoint past the page: its revisions are in the log,
   which every sink is delivered from in order.

Staging a page (map, merge into the stored dossier, hash, evaluate) runs in worker processes
(`staging.py`) while the main process stores and delivers the page before.

A restart first delivers what the log holds beyond each mark; a page read again merges into
identical dossiers (same hash), so it yields no new revision. A sink re-sent a batch whose
acknowledgement was lost dedupes by idempotency key (file sinks: truncate to their committed
offset), so every sink holds each revision exactly once.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import time
from collections import Counter
from concurrent.futures import Future, ProcessPoolExecutor
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import orjson
from pydantic import ValidationError

from .adapters import AdapterContext, EvidenceItem, RawRecord, Sink, SinkUnavailable, Source
from .delivery import SinkDelivery, sink_lock
from .calendar import WorkingCalendar
from .engine import Evaluator
from .errors import ConfigurationError, LockHeld
from .ledger import Ledger
from .logs import redact
from .merge import StepAuthority
from .option_paths import refuse_shared_files, resolve_paths
from .plugins import Registry
from .privacy import Pseudonymizer
from .procedures import ProcedureBook
from .runs import QuarantineEntry, RunInfo, RunReport
from .settings import Settings
from .staging import (BASE, STORED, ChunkResult, LedgerReader, Stager, evaluated_row, init_worker,
                      stage_fragments_in_worker, stage_records_in_worker, transport)
from .workers import usable_cores

log = logging.getLogger("isobridge.sync")
RECORD_KEY = BASE + 1
"""Where a recorded row keeps the key of the record that changed it (after the staged `Row`)."""
Restage = Callable[[set[str]], "tuple[list[tuple], dict[str, QuarantineEntry]]"]
"""Stages dossiers again against what is stored now: (recorded rows, quarantine entries)."""


def source_lock(name: str) -> str:
    """The lock a source's sync holds: one sync per source at a time, sources in parallel."""
    return f"source:{name}"


PARALLEL_CHUNK = 64
"""Records (or dossiers) per worker task; a page smaller than two chunks is staged inline."""


def _chunks(items: list) -> list[list]:
    return [items[i : i + PARALLEL_CHUNK] for i in range(0, len(items), PARALLEL_CHUNK)]


def _touched(results: list[ChunkResult]) -> tuple[dict[str, list[int]], set[str]]:
    """Every dossier a page's chunks touched with its records' indexes, and those a chunk could
    not stage from all of their records (split across two chunks, or two groups of one)."""
    touched: dict[str, list[int]] = {}
    split: set[str] = set()
    for result in results:
        split.update(result.again)
        for code, indexes in result.touched.items():
            if code in touched:
                split.add(code)
                touched[code] = touched[code] + indexes
            else:
                touched[code] = indexes
    return touched, split


@dataclass
class PageOutcome:
    """What processing one page's records produced."""

    rows: list[tuple] = field(default_factory=list)
    """Changed dossiers' rows: a staged `Row` + the key of the record that changed it."""
    revisions: list[tuple[str, int]] = field(default_factory=list)
    """The new revisions stored (dossier, revision)."""
    evidence: dict[tuple[str, int], bytes] = field(default_factory=dict)
    """The new revisions' plain evidence JSON, for the sinks."""
    quarantine: list[QuarantineEntry] = field(default_factory=list)
    failed: dict[str, QuarantineEntry] = field(default_factory=dict)
    """The quarantine entries (also in `quarantine`) of dossiers that could not be evaluated."""
    restage: "Restage | None" = None
    """Stages dossiers of this outcome again against what is stored now."""

    def add_failed(self, failed: dict[str, QuarantineEntry]) -> None:
        """Quarantine dossiers that could not be evaluated, replacing an earlier entry of each."""
        self.forget(set(failed))
        self.failed.update(failed)
        self.quarantine += failed.values()

    def forget(self, codes: set[str]) -> None:
        """Take the quarantine entries of these dossiers back (they are staged again)."""
        dropped = [self.failed.pop(code) for code in codes if code in self.failed]
        self.quarantine = [entry for entry in self.quarantine if all(entry is not gone for gone in dropped)]


@dataclass
class _Flight:
    """A page being staged (in the workers or already inline), not yet stored."""

    records: list[RawRecord]
    results: list
    """The chunk results, or the workers' futures of them."""
    failures: list[tuple[int, list[str]]] = field(default_factory=list)
    """Records the main process could not map."""

    def collect(self) -> list[ChunkResult]:
        """Wait for the chunk results."""
        return [result.result() if isinstance(result, Future) else result for result in self.results]


@dataclass
class SyncJob(SinkDelivery):
    """One configured deployment: settings, plugins, ledger."""

    settings: Settings
    registry: Registry
    ledger: Ledger
    as_of: int | None = None
    dry_run: bool = False
    limit: int | None = None
    progress: Callable[[RunReport], None] | None = None
    base_dir: Path = field(default_factory=Path.cwd)

    def __post_init__(self) -> None:
        refuse_shared_files(self.settings, self.registry, self.base_dir)
        key = self.settings.privacy.pseudonym_key
        self.pseudonymizer = Pseudonymizer(key.get_secret_value() if key else self.ledger.pseudonym_key())
        self.ledger.protect(key.get_secret_value() if key else None)
        self.evaluator = Evaluator(
            ProcedureBook.from_dir(self.settings.procedures.dir),
            WorkingCalendar.from_file(self.settings.calendar.file),
        )
        if self.as_of is not None:
            self.evaluator.as_of = self.as_of
        rules = self.settings.sync.step_source
        self.authority = StepAuthority(rules.default, rules.procedures, rules.agencies)
        unknown = sorted(self.authority.sources() - set(self.settings.sources))
        if unknown:
            raise ConfigurationError(f"sync.step_source: {', '.join(map(repr, unknown))} is no configured source")
        self._pool = None
        self._pool_stager: Stager | None = None
        self._sources: dict[str, Source] = {}
        self._sinks: dict[str, Sink] = {}
        self._workers = self.settings.sync.workers or usable_cores()
        self.run_info: RunInfo | None = None
        self.report = RunReport(outcome="ok")

    def close(self) -> None:
        """Stop the evaluation workers."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    # -- adapters -----------------------------------------------------------------------------
    def context(self, name: str, state: dict | None = None) -> AdapterContext:
        """The context handed to adapter instance `name`."""
        return AdapterContext(
            name=name, pseudonymizer=self.pseudonymizer, log=logging.getLogger(f"isobridge.adapter.{name}"),
            state=state if state is not None else {},
            base_dir=self.base_dir, ledger_path=self.ledger.path,
        )

    def open_source(self, name: str) -> Source:
        """Instantiate the configured source `name`."""
        options = self.settings.sources.get(name)
        if options is None:
            raise ConfigurationError(f"no source {name!r} in the configuration")
        cls = self.registry.source(str(options.get("adapter")))
        return cls(self._options(cls, options, f"sources.{name}"), self.context(name))

    def _options(self, cls, options: dict, where: str):
        """Validate an adapter's options; relative paths become relative to the config file."""
        try:
            validated = cls.Options.model_validate(options)
        except ValidationError as exc:
            raise ConfigurationError(self.settings.explain(exc, tuple(where.split(".", 1)), cls.Options)) from None
        return resolve_paths(validated, self.base_dir)

    # -- the run ------------------------------------------------------------------------------
    def run(self, sources: list[str] | None = None) -> RunReport:
        """Sync the given sources (default: all configured) into every sink.

        The run holds each source's lock from start to finish, so syncs of other sources run at
        the same time. It delivers to the sinks whose lock it can take; at its end it waits (up to
        the lease) for the others and delivers what their holder left.
        """
        names = sources or list(self.settings.sources)
        for name in names:
            if name not in self.settings.sources:
                raise ConfigurationError(f"no source {name!r} in the configuration")
        return self._locked_run(names, [source_lock(name) for name in names], lambda: self._sync_all(names))

    def deliver_only(self, sinks: list[str] | None = None) -> RunReport:
        """Deliver the revision log to the given sinks (default: all), waiting for their locks."""
        names = sinks or list(self.settings.sinks)
        for name in names:
            if name not in self.settings.sinks:
                raise ConfigurationError(f"no sink {name!r} in the configuration")
        return self._locked_run([f"deliver:{name}" for name in names], [sink_lock(name) for name in names],
                                lambda: self._deliver_owned(names), wait=self.settings.sync.lock_lease_minutes * 60)

    def _locked_run(self, names: list[str], locks: list[str], work: Callable[[], None], wait: float = 0) -> RunReport:
        """Take `locks` (waiting up to `wait` seconds for each), record a run, do `work`, then
        record how it ended and release them."""
        lease = self.settings.sync.lock_lease_minutes * 60
        try:
            for lock in locks:
                self.ledger.acquire(lock, lease, wait_seconds=wait)
        except LockHeld:
            self._release()
            raise
        run_id, started = self.ledger.start_run(names, locks)
        self.run_info = RunInfo(run_id, started, names, list(self.settings.sinks), self.dry_run)
        self.registry.hook.run_started(run=self.run_info)
        clock = time.perf_counter()
        gc.freeze()  # what is alive now (modules, plugins, calendar) lives on: spare the collector scanning it
        try:
            work()
        except SinkUnavailable as exc:
            self.report.outcome, self.report.error = "failed", f"sink unavailable: {exc}"
        except Exception as exc:
            self.report.outcome, self.report.error = "failed", f"{type(exc).__name__}: {exc}"
            raise
        except KeyboardInterrupt:  # Ctrl-C: the run did not finish, whatever it counted so far
            self.report.outcome, self.report.error = "failed", "interrupted"
            raise
        finally:
            self._close_sinks()
            self.close()
            gc.unfreeze()
            self.report.duration_seconds = round(time.perf_counter() - clock, 3)
            self._finish(run_id)
        return self.report

    def _finish(self, run_id: int) -> None:
        self.report.pending = self.ledger.pending_count()
        if self.report.outcome == "ok" and self.report.quarantined:
            self.report.outcome = "quarantined"
        self._log_dropped()
        if self.report.error:  # the runs table and the hooks see it masked, like every path out
            self.report.error = redact(self.report.error)
        self.ledger.finish_run(run_id, self.report)
        self._release()
        self.registry.hook.run_finished(run=self.run_info, report=self.report)

    def _release(self) -> None:
        for lock in sorted(self.ledger.held):
            self.ledger.release(lock)

    def _sync_all(self, names: list[str]) -> None:
        """Deliver what waits, sync each source, recheck, then deliver to the sinks others held."""
        late = self._open_owned_sinks()
        if not self.dry_run:
            self.deliver(self._sinks)
        for name in names:
            self._sync_locked(name, self._sinks)
        if not self.dry_run:
            self.recheck(self._sinks)
            self._deliver_late(late)

    def _sync_locked(self, name: str, sinks: dict[str, Sink]) -> None:
        source = self.open_source(name)
        try:
            self.sync_source(name, source, sinks)
        finally:
            source.close()

    def sync_source(self, name: str, source: Source, sinks: dict[str, Sink]) -> None:
        """Pull pages after the checkpoint; checkpoint each page once every sink acknowledged it.

        Page N is staged (mapped, merged, evaluated in the workers) while page N-1 is stored and
        delivered; dossiers both pages touch are staged again once page N-1 is stored.
        """
        stager = self.stager(name, source)
        pending: tuple[_Flight, str | None] | None = None
        previous: set[str] = set()
        read = 0
        for page in source.pages(self.ledger.checkpoint(name)):
            flight = self._launch(stager, page.records)
            if pending:
                previous = self._complete(stager, *pending, previous, sinks)
            pending = (flight, page.cursor)
            read += len(page.records)
            if self.limit is not None and read >= self.limit:
                break
        if pending:
            self._complete(stager, *pending, previous, sinks)

    def stager(self, name: str, source: Source) -> Stager:
        """The stager of source `name`, looking dossiers up on the main ledger connection."""
        self._sources[name] = source
        return Stager(name, source, self.evaluator, self.pseudonymizer, self.ledger.records, self.authority)

    def _complete(self, stager: Stager, flight: _Flight, cursor: str | None, previous: set[str],
                  sinks: dict[str, Sink]) -> set[str]:
        """Store and deliver a staged page, then move the checkpoint past it; returns its dossiers."""
        outcome, touched = self._land(stager, flight, previous)
        self._store(stager.source_name, outcome, len(flight.records), sinks)
        if not self.dry_run:
            with self.ledger.transaction() as db:
                self.ledger.set_checkpoint(db, stager.source_name, cursor)
            self.ledger.heartbeat()
            self.registry.hook.checkpoint_committed(run=self.run_info, source=stager.source_name, cursor=cursor or "")
        return touched

    def process(self, name: str, source: Source, records: list[RawRecord], sinks: dict[str, Sink]) -> PageOutcome:
        """Map, merge and evaluate raw records, store the results and deliver them."""
        stager = self.stager(name, source)
        outcome, _ = self._land(stager, self._launch(stager, records), set())
        self._store(name, outcome, len(records), sinks)
        return outcome

    def _store(self, name: str, outcome: PageOutcome, records: int, sinks: dict[str, Sink]) -> None:
        """Count, notify, then (unless a dry run) store the page's results and deliver them.

        Dossiers another process changed since they were staged (a sync of another source, a
        recheck) are staged again against what is stored, inside the same transaction."""
        self.report.records += records
        if self.dry_run:
            self._account(outcome, outcome.rows)
            return
        with self.ledger.transaction() as db:
            written = self._write(db, outcome)
            self.ledger.append_revisions(db, outcome.revisions)
            for entry in outcome.quarantine:
                self.ledger.quarantine(db, entry, self.run_info.run_id if self.run_info else None)
        self._account(outcome, written)
        self.deliver(sinks, outcome.evidence)

    def _write(self, db, outcome: PageOutcome) -> list[tuple]:
        """Write the page's dossier rows; rows staged against a dossier since changed are staged
        again (once: the transaction now excludes other writers of those dossiers)."""
        rows, written = outcome.rows, []
        while rows:
            stale = self.ledger.store_dossiers(db, [(*row[:STORED], row[RECORD_KEY]) for row in rows],
                                               {row[0]: row[BASE] for row in rows})
            written += [row for row in rows if row[0] not in stale]
            if not stale:
                break
            log.debug("%d dossier(s) changed by another writer since staged: staged again", len(stale))
            rows, failed = outcome.restage(stale) if outcome.restage else ([], {})
            outcome.forget(stale)
            outcome.add_failed(failed)
        for row in written:
            if row[7] == "evaluated" and row[5] is not None:  # a new revision (not: same evidence)
                outcome.revisions.append((row[0], row[4]))
                outcome.evidence[(row[0], row[4])] = row[STORED]  # plain JSON, for the sinks
        return written

    def _account(self, outcome: PageOutcome, written: list[tuple]) -> None:
        """Count what a page changed and quarantined; tell the hooks and the progress display."""
        self.report.dossiers += len(written)
        self.report.revisions += sum(1 for row in written if row[7] == "evaluated" and row[5] is not None)
        self.report.quarantined += len(outcome.quarantine)
        for entry in outcome.quarantine:
            self.registry.hook.record_quarantined(run=self.run_info, entry=entry)
        if self.progress:
            self.progress(self.report)

    # -- staging ------------------------------------------------------------------------------
    def _launch(self, stager: Stager, records: list[RawRecord]) -> _Flight:
        """Start staging a page: in the workers when it is big enough, else right now."""
        indexed = list(enumerate(records))
        if stager.source.parallel_map:
            if not self._parallel(len(indexed)):
                return _Flight(records, [stager.stage_records(indexed)])
            return _Flight(records, self._submit(stager, stage_records_in_worker, _chunks(transport(records))))
        fragments, failures = stager.map_records(indexed)
        if not self._parallel(len(fragments)):
            return _Flight(records, [stager.stage(fragments)], failures)
        chunks = [dict(chunk) for chunk in _chunks(list(fragments.items()))]
        return _Flight(records, self._submit(stager, stage_fragments_in_worker, chunks), failures)

    def _parallel(self, count: int) -> bool:
        return self._workers >= 2 and count >= 2 * PARALLEL_CHUNK

    def _submit(self, stager: Stager, task: Callable, chunks: list) -> list[Future]:
        """Hand chunks to the workers of this stager, forked on first need (small runs and `check`
        never fork). A worker that dies (killed, out of memory) breaks the pool: the run fails
        cleanly, where `multiprocessing.Pool` would wait for the lost task forever."""
        if self._pool is not None and self._pool_stager is not stager:
            self.close()
        if self._pool is None:
            reader = replace(stager, lookup=LedgerReader(self.settings.ledger))
            self._pool = ProcessPoolExecutor(self._workers, mp_context=multiprocessing.get_context("fork"),
                                             initializer=init_worker, initargs=(reader, self.ledger.db.descriptors()))
            self._pool_stager = stager
        return [self._pool.submit(task, chunk) for chunk in chunks]

    def _land(self, stager: Stager, flight: _Flight, previous: set[str]) -> tuple[PageOutcome, set[str]]:
        """Collect a staged page; dossiers staged against a stale ledger are staged again here."""
        results = flight.collect()
        touched, redo = _touched(results)
        redo.update(previous.intersection(touched))
        outcome = PageOutcome(restage=lambda codes: self._restaged(stager, flight, touched, codes))
        source, name = stager.source, stager.source_name
        for index, errors in [*flight.failures, *(failure for result in results for failure in result.failures)]:
            raw = flight.records[index]
            outcome.quarantine.append(QuarantineEntry(name, raw.key, "map", source.quarantine_payload(raw), errors))
        staged = [result.without(redo) for result in results] if redo else results
        self._count_dropped(stager.take_dropped(), *(result.dropped for result in results))
        if redo:
            staged.append(self._stage_again(stager, flight, touched, redo))
        for result in staged:
            rows, failed = self._recorded(stager, flight, touched, result)
            outcome.rows += rows
            outcome.add_failed(failed)
        return outcome, set(touched)

    @staticmethod
    def _stage_again(stager: Stager, flight: _Flight, touched: dict[str, list[int]], codes: set[str]) -> ChunkResult:
        """Stage dossiers again, inline, from all of the page's records that touch them."""
        indexes = sorted({index for code in codes for index in touched[code]})
        fragments, _ = stager.map_records((index, flight.records[index]) for index in indexes)
        stager.take_dropped()  # counted already, the first time these records were mapped
        return stager.stage({code: items for code, items in fragments.items() if code in codes})

    @staticmethod
    def _recorded(stager: Stager, flight: _Flight, touched: dict[str, list[int]],
                  result: ChunkResult) -> tuple[list[tuple], dict[str, QuarantineEntry]]:
        """A staged result's rows, each + the key of the page's last record that touched its
        dossier, and the quarantine entries of the dossiers that could not be evaluated."""
        rows = [(*row, flight.records[touched[row[0]][-1]].key) for row in result.rows]
        failed = {}
        for code, errors in result.errors.items():
            raw = flight.records[touched[code][-1]]
            failed[code] = QuarantineEntry(stager.source_name, raw.key, "evaluate", stager.source.quarantine_payload(raw), errors)
        return rows, failed

    def _restaged(self, stager: Stager, flight: _Flight, touched: dict[str, list[int]],
                  codes: set[str]) -> tuple[list[tuple], dict[str, QuarantineEntry]]:
        """`Restage` for a page: its dossiers `codes` staged again against the ledger as it is now."""
        return self._recorded(stager, flight, touched, self._stage_again(stager, flight, touched, codes))

    def _log_dropped(self) -> None:
        """Name (never show) the fields the sources gave that the ledger did not store."""
        dropped = self.report.counts.get("dropped_fields")
        if dropped:
            names = ", ".join(f"{name} ({count})" for name, count in sorted(dropped.items()))
            log.info("fields not stored (not needed by the evaluation, dropped): %s", names)

    def _count_dropped(self, *counts: Counter) -> None:
        """Add fields the sources gave and the ledger does not store to the run's counts."""
        total = self.report.counts.setdefault("dropped_fields", {})
        for count in counts:
            for name, number in count.items():
                total[name] = total.get(name, 0) + number

    def recheck(self, sinks: dict[str, Sink]) -> None:
        """Evaluate again the dossiers whose evidence time alone changed (an open dossier or step
        passed its due while no new record came: a stuck dossier must show as overdue), store the
        new revisions and deliver them."""
        while due := self.ledger.due_for_recheck(self.evaluator.as_of, self.settings.sync.batch_size):
            sources = {code: source for code, source, _ in due}
            outcome = PageOutcome(restage=lambda codes: self._reevaluated(
                [(code, sources[code], stored) for code, stored in self.ledger.records(codes).items()]))
            rows, failed = self._reevaluated(due)
            outcome.rows += rows
            outcome.add_failed(failed)
            self.report.counts["rechecked"] = self.report.counts.get("rechecked", 0) + len(due)
            self._store("recheck", outcome, 0, sinks)

    def _reevaluated(self, dossiers: list[tuple[str, str, tuple]]) -> tuple[list[tuple], dict[str, QuarantineEntry]]:
        """Stored dossiers evaluated again at the job's `as_of`: their rows (keeping the stored
        record key) and the quarantine entries of those that could not be evaluated."""
        as_of, rows, failed, errors = self.evaluator.as_of, [], {}, {}
        for code, source, stored in dossiers:
            row = evaluated_row(self.evaluator, self.authority, code, source, orjson.loads(stored[0]),
                                stored[0], stored[1], stored, errors)
            if row[8] is not None and row[8] <= as_of:  # never the case for a fresh evaluation: never loop
                row = (*row[:8], None, *row[STORED:])
            rows.append((*row, None))  # no record read: the stored record key stays
            if code in errors:
                failed[code] = QuarantineEntry(source, code, "evaluate", stored[0].decode(), errors[code])
        return rows, failed

    # -- quarantine replay --------------------------------------------------------------------
    def replay(self, entry: QuarantineEntry) -> list[str]:
        """Feed a quarantined record through the current mapping, procedures and sinks again.

        Returns the errors that remain (empty: replayed and removed from the quarantine).
        """
        lease = self.settings.sync.lock_lease_minutes * 60
        locks = [sink_lock(name) for name in self.settings.sinks]
        if entry.stage != "write" and entry.source in self.settings.sources:
            locks.insert(0, source_lock(entry.source))
        errors: list[str] = ["not replayed"]
        try:
            for lock in locks:  # a source's lock at once; a sink's once its delivery is done
                self.ledger.acquire(lock, lease, wait_seconds=0 if lock.startswith("source:") else lease)
            run_id, started = self.ledger.start_run([f"replay:{entry.id}"], locks)
            self.run_info = RunInfo(run_id, started, [entry.source], list(self.settings.sinks))
            sinks = {name: self.open_sink(name) for name in self.settings.sinks}
            try:
                errors = self._replay(entry, sinks)
            finally:
                for sink in sinks.values():
                    sink.close()
                self.report.outcome = "ok" if not errors else "quarantined"
                self.ledger.finish_run(run_id, self.report)
        finally:
            self._release()
        if not errors:
            self.ledger.discard(entry.id)  # type: ignore[arg-type]
        return errors

    def _replay(self, entry: QuarantineEntry, sinks: dict[str, Sink]) -> list[str]:
        if entry.stage == "write":
            sink = sinks[entry.source.removeprefix("sink:")]
            dossier, _, revision = entry.key.rpartition("@")
            item = EvidenceItem(dossier, int(revision), orjson.loads(entry.payload), entry.payload.encode())
            result = sink.write([item])
            with self.ledger.transaction() as db:
                db.execute("UPDATE sinks SET state = ? WHERE sink = ?",
                           (orjson.dumps(sink.context.state).decode(), sink.context.name))
            return [] if item.key in result.accepted else [result.rejected.get(item.key, "not acknowledged")]
        source = self.open_source(entry.source)
        try:
            outcome = self.process(entry.source, source, [RawRecord(entry.key, entry.payload)], sinks)
        finally:
            source.close()
        return [error for q in outcome.quarantine if q.key == entry.key for error in q.errors]
