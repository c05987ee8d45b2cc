"""The sync job: pull each source since its checkpoint, merge, evaluate, deliver, checkpoint.

Order of durable steps for every page (this is what makes a kill -9 at any instant safe):

1. one transaction stores the merged dossiers, their new evidence revisions (appended to the
   revision log) and the page's quarantine entries;
2. every sink receives the log after its delivered mark and acknowledges; each acknowledgement
   is one transaction that moves the mark and stores the sink's own state (e.g. file offset);
3. only when every sink's mark reached the log's end does a transaction move the source's
   checkpoint past the page.

A restart first delivers what the log holds beyond each mark; a page read again merges into
identical dossiers (same hash), so it yields no new revision. A sink re-sent a batch whose
acknowledgement was lost dedupes by idempotency key (file sinks: truncate to their committed
offset), so every sink holds each revision exactly once.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import time
from typing import Any
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import orjson
from pydantic import ValidationError

from .adapters import AdapterContext, EvidenceItem, RawRecord, Sink, SinkUnavailable, Source, WriteResult
from .calendar import WorkingCalendar
from .caselog import TEXT_FIELDS, RecordError
from .engine import Evaluator
from .ledger import Ledger
from .plugins import Registry
from .privacy import Pseudonymizer
from .procedures import ProcedureBook
from .runs import QuarantineEntry, RunInfo, RunReport
from .settings import Settings

log = logging.getLogger("isobridge.sync")
HEADER_FIELDS = ("procedure", "agency", "channel", "received_at", "due_at", "status")
REQUIRED_FIELDS = ("procedure", "received_at", "status")
LOCK = "sync"
"""One sync (or replay) per deployment at a time: sinks are shared by every source."""


class ConfigurationError(ValueError):
    """The settings name an unknown adapter or give it invalid options."""


def _event_key(event: dict) -> tuple:
    return (event.get("at"), event.get("kind"), event.get("step"), event.get("unit"))


def _event_order(event: dict) -> tuple:
    try:
        instant = datetime.fromisoformat(event["at"]).timestamp()
    except (KeyError, TypeError, ValueError):
        instant = 0.0
    return (instant, *(str(part) for part in _event_key(event)))


def merge(stored: dict | None, fragments: list[dict]) -> dict:
    """Merge case-log fragments into a dossier: header fields latest-wins, events de-duplicated."""
    if stored is None and len(fragments) == 1:
        return fragments[0]
    merged: dict = dict(stored) if stored else {}
    events: dict[tuple, dict] = {_event_key(e): e for e in merged.get("events", [])}
    for fragment in fragments:
        for name, value in fragment.items():
            if name != "events" and value is not None:
                merged[name] = value
        for event in fragment.get("events", []):
            events.setdefault(_event_key(event), event)
    merged["events"] = sorted(events.values(), key=_event_order)
    return merged


def check_fragment(fragment: object) -> dict:
    """Structural check of one fragment returned by a source's `map`."""
    if not isinstance(fragment, dict):
        raise RecordError([f"mapping produced {type(fragment).__name__}, not an object"])
    errors = []
    if not isinstance(fragment.get("dossier"), str) or not fragment["dossier"]:
        errors.append("dossier: missing dossier code")
    events = fragment.get("events", [])
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        errors.append("events: expected a list of objects")
    else:
        for index, event in enumerate(events):
            for name in ("at", "kind", *TEXT_FIELDS):
                value = event.get(name)
                if value is not None and type(value) is not str:
                    errors.append(f"events[{index}].{name}: expected text, got {type(value).__name__}")
    for name in ("procedure", "agency", "channel", "received_at", "due_at"):
        value = fragment.get(name)
        if value is not None and type(value) is not str:
            errors.append(f"{name}: expected text, got {type(value).__name__}")
    if errors:
        raise RecordError(errors)
    return fragment


PARALLEL_CHUNK = 250
_WORKER_EVALUATOR: Evaluator | None = None


Outcome = tuple[bool, "bytes | list[str]", str]
"""(True, evidence JSON, verdict) or (False, errors, "")."""


def evaluate_blobs(evaluator: Evaluator, blobs: list[bytes]) -> list[Outcome]:
    """Evaluate each merged dossier JSON."""
    results: list[Outcome] = []
    for blob in blobs:
        try:
            evidence = evaluator.evaluate_record(orjson.loads(blob))
            results.append((True, orjson.dumps(evidence), evidence["verdict"]))
        except RecordError as exc:
            results.append((False, exc.errors, ""))
        except Exception as exc:  # a defect must cost one dossier, never the run
            results.append((False, [f"cannot be evaluated: {type(exc).__name__}: {exc}"], ""))
    return results


def _init_worker(evaluator: Evaluator) -> None:
    global _WORKER_EVALUATOR
    _WORKER_EVALUATOR = evaluator


def _evaluate_in_worker(blobs: list[bytes]) -> list[Outcome]:
    assert _WORKER_EVALUATOR is not None
    return evaluate_blobs(_WORKER_EVALUATOR, blobs)


@dataclass
class _Job:
    """A changed dossier waiting for evaluation."""

    code: str
    blob: bytes
    digest: str
    revision: int
    raw: RawRecord


@dataclass
class PageOutcome:
    """What processing one page's records produced."""

    rows: list[tuple] = field(default_factory=list)
    revisions: list[tuple[str, int]] = field(default_factory=list)
    evidence: dict[tuple[str, int], bytes] = field(default_factory=dict)
    quarantine: list[QuarantineEntry] = field(default_factory=list)
    pending: int = 0


@dataclass
class _Staged:
    """A page merged and being evaluated, not yet stored."""

    codes: set[str]
    records: int
    outcome: PageOutcome
    jobs: list[_Job]
    results: Any
    """The evaluation results, or the pending `AsyncResult` of the workers (then chunked)."""

    @property
    def chunked(self) -> bool:
        """True when the results come from the workers, one list per chunk."""
        return hasattr(self.results, "get")


@dataclass
class SyncJob:
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
        key = self.settings.privacy.pseudonym_key
        self.pseudonymizer = Pseudonymizer(key.get_secret_value() if key else self.ledger.pseudonym_key())
        self.evaluator = Evaluator(
            ProcedureBook.from_dir(self.settings.procedures.dir),
            WorkingCalendar.from_file(self.settings.calendar.file),
        )
        if self.as_of is not None:
            self.evaluator.as_of = self.as_of
        self._pool = None
        self._sources: dict[str, Source] = {}
        self._workers = self.settings.sync.workers or os.cpu_count() or 1
        self.run_info: RunInfo | None = None
        self.report = RunReport(outcome="ok")

    def close(self) -> None:
        """Stop the evaluation workers."""
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None

    # -- adapters -----------------------------------------------------------------------------
    def context(self, name: str, state: dict | None = None) -> AdapterContext:
        """The context handed to adapter instance `name`."""
        return AdapterContext(
            name=name, pseudonymizer=self.pseudonymizer, log=logging.getLogger(f"isobridge.adapter.{name}"),
            state=state if state is not None else {}, mapping_functions=self.registry.functions,
            base_dir=self.base_dir, ledger_path=self.ledger.path,
        )

    def open_source(self, name: str) -> Source:
        """Instantiate the configured source `name`."""
        options = self.settings.sources.get(name)
        if options is None:
            raise ConfigurationError(f"no source {name!r} in the configuration")
        cls = self.registry.source(str(options.get("adapter")))
        return cls(self._options(cls, options, f"sources.{name}"), self.context(name))

    def open_sink(self, name: str) -> Sink:
        """Instantiate the configured sink `name` with its persisted state."""
        options = self.settings.sinks[name]
        cls = self.registry.sink(str(options.get("adapter")))
        _, state = self.ledger.sink(name)
        return cls(self._options(cls, options, f"sinks.{name}"), self.context(name, state))

    def _options(self, cls, options: dict, where: str):
        """Validate an adapter's options; relative paths become relative to the config file."""
        try:
            validated = cls.Options.model_validate(options)
        except ValidationError as exc:
            problems = "; ".join(f"{where}.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ConfigurationError(problems) from None
        for field_name in type(validated).model_fields:
            value = getattr(validated, field_name)
            if isinstance(value, Path) and not value.is_absolute():
                setattr(validated, field_name, self.base_dir / value)
        return validated

    # -- the run ------------------------------------------------------------------------------
    def run(self, sources: list[str] | None = None) -> RunReport:
        """Sync the given sources (default: all configured) into every sink."""
        names = sources or list(self.settings.sources)
        for name in names:
            if name not in self.settings.sources:
                raise ConfigurationError(f"no source {name!r} in the configuration")
        self.ledger.acquire(LOCK, self.settings.sync.lock_lease_minutes * 60)
        run_id, started = self.ledger.start_run(names)
        self.run_info = RunInfo(run_id, started, names, list(self.settings.sinks), self.dry_run)
        self.registry.hook.run_started(run=self.run_info)
        clock = time.perf_counter()
        sinks: dict[str, Sink] = {}
        try:
            sinks = {name: self.open_sink(name) for name in self.settings.sinks}
            if not self.dry_run:
                self.deliver(sinks)
            for name in names:
                self._sync_locked(name, sinks)
        except SinkUnavailable as exc:
            self.report.outcome, self.report.error = "failed", f"sink unavailable: {exc}"
        except Exception as exc:
            self.report.outcome, self.report.error = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            for sink in sinks.values():
                sink.close()
            self.close()
            self.report.duration_seconds = round(time.perf_counter() - clock, 3)
            self.report.pending = self.ledger.pending_count()
            if self.report.outcome == "ok" and self.report.quarantined:
                self.report.outcome = "quarantined"
            self.ledger.finish_run(run_id, self.report)
            self.ledger.release(LOCK)
            self.registry.hook.run_finished(run=self.run_info, report=self.report)
        return self.report

    def _sync_locked(self, name: str, sinks: dict[str, Sink]) -> None:
        source = self.open_source(name)
        try:
            self.sync_source(name, source, sinks)
        finally:
            source.close()

    def sync_source(self, name: str, source: Source, sinks: dict[str, Sink]) -> None:
        """Pull pages after the checkpoint; checkpoint each page once every sink acknowledged it.

        Page N is evaluated (in the workers) while page N-1 is stored and delivered; a page that
        touches a dossier of the page before waits for that page to be stored first.
        """
        pending: tuple[_Staged, str | None] | None = None
        read = 0
        for page in source.pages(self.ledger.checkpoint(name)):
            fragments, quarantine = self._map_page(name, source, page.records)
            if pending and not pending[0].codes.isdisjoint(fragments):
                self._complete(name, *pending, sinks)
                pending = None
            staged = self._stage(name, fragments, quarantine, len(page.records))
            if pending:
                self._complete(name, *pending, sinks)
            pending = (staged, page.cursor)
            read += len(page.records)
            if self.limit is not None and read >= self.limit:
                break
        if pending:
            self._complete(name, *pending, sinks)

    def _complete(self, name: str, staged: "_Staged", cursor: str | None, sinks: dict[str, Sink]) -> None:
        """Store and deliver a staged page, then move the checkpoint past it."""
        self._store(name, self._collect(name, staged), staged.records, sinks)
        if not self.dry_run:
            with self.ledger.transaction() as db:
                self.ledger.set_checkpoint(db, name, cursor)
            self.ledger.heartbeat(LOCK)
            self.registry.hook.checkpoint_committed(run=self.run_info, source=name, cursor=cursor or "")

    def process(self, name: str, source: Source, records: list[RawRecord], sinks: dict[str, Sink]) -> PageOutcome:
        """Map, merge and evaluate raw records, store the results and deliver them."""
        fragments, quarantine = self._map_page(name, source, records)
        outcome = self._collect(name, self._stage(name, fragments, quarantine, len(records)))
        self._store(name, outcome, len(records), sinks)
        return outcome

    def _store(self, name: str, outcome: PageOutcome, records: int, sinks: dict[str, Sink]) -> None:
        """Count, notify, then (unless a dry run) store the page's results and deliver them."""
        self.report.records += records
        self.report.quarantined += len(outcome.quarantine)
        for entry in outcome.quarantine:
            self.registry.hook.record_quarantined(run=self.run_info, entry=entry)
        if self.progress:
            self.progress(self.report)
        if self.dry_run:
            return
        with self.ledger.transaction() as db:
            db.executemany(
                "INSERT INTO dossiers (dossier, source, record, record_hash, revision, evidence, verdict, state, updated_at)"
                " VALUES (?,?,?,?,?,?,?,?,datetime('now')) ON CONFLICT (dossier) DO UPDATE SET"
                " source=excluded.source, record=excluded.record, record_hash=excluded.record_hash,"
                " revision=excluded.revision, evidence=coalesce(excluded.evidence, dossiers.evidence),"
                " verdict=coalesce(excluded.verdict, dossiers.verdict), state=excluded.state,"
                " updated_at=excluded.updated_at",
                outcome.rows,
            )
            db.executemany("INSERT INTO revisions (dossier, revision) VALUES (?, ?)", outcome.revisions)
            for entry in outcome.quarantine:
                self.ledger.quarantine(db, entry, self.run_info.run_id if self.run_info else None)
        self.deliver(sinks, outcome.evidence)

    def _map_page(self, name: str, source: Source, records: list[RawRecord]):
        """Fragments by dossier (each with its raw record) and the records that could not be mapped."""
        self._sources[name] = source
        fragments: dict[str, list[tuple[dict, RawRecord]]] = {}
        quarantine: list[QuarantineEntry] = []
        for raw in records:
            try:
                for fragment in source.map(raw):
                    fragment = self.pseudonymizer.scrub_fragment(check_fragment(fragment))
                    fragments.setdefault(fragment["dossier"], []).append((fragment, raw))
            except RecordError as exc:
                quarantine.append(QuarantineEntry(name, raw.key, "map", source.quarantine_payload(raw), exc.errors))
            except Exception as exc:  # an adapter bug must not lose the record
                quarantine.append(QuarantineEntry(name, raw.key, "map", source.quarantine_payload(raw),
                                                  [f"{type(exc).__name__}: {exc}"]))
        return fragments, quarantine

    def _stage(self, name: str, fragments: dict, quarantine: list[QuarantineEntry], records: int) -> "_Staged":
        """Merge into the stored dossiers and start evaluating the changed ones."""
        outcome = PageOutcome(quarantine=quarantine)
        stored = self.ledger.records(fragments)
        jobs = [job for code, items in fragments.items()
                if (job := self._prepare(name, code, items, stored.get(code), outcome)) is not None]
        return _Staged(set(fragments), records, outcome, jobs, self._evaluate_async([job.blob for job in jobs]))

    def _collect(self, name: str, staged: "_Staged") -> PageOutcome:
        """Wait for a staged page's evaluation and record its results."""
        if staged.chunked:
            flat = [result for part in staged.results.get() for result in part]
        else:
            flat = staged.results
        for job, result in zip(staged.jobs, flat):
            self._record_result(name, job, result, staged.outcome)
        return staged.outcome

    def _prepare(self, name: str, code: str, items, stored, outcome: PageOutcome) -> "_Job | None":
        """Merge fragments into the stored dossier; a job when it changed and can be evaluated."""
        previous = orjson.loads(stored[0]) if stored else None
        record = merge(previous, [fragment for fragment, _ in items])
        blob = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
        digest = hashlib.blake2b(blob, digest_size=16).hexdigest()
        if stored and stored[1] == digest and stored[3]:
            return None  # unchanged and already evaluated: no new revision
        revision = stored[2] if stored else 0
        self.report.dossiers += 1
        if any(record.get(key) is None for key in REQUIRED_FIELDS):
            outcome.pending += 1
            outcome.rows.append((code, name, blob, digest, revision, None, None, "pending"))
            return None
        return _Job(code, blob, digest, revision, items[-1][1])

    def _evaluate_async(self, blobs: list[bytes]):
        """Start evaluating merged dossiers: in the workers when there are enough, else right now."""
        if self._workers < 2 or len(blobs) < 2 * PARALLEL_CHUNK:
            return evaluate_blobs(self.evaluator, blobs)
        if self._pool is None:  # started on first need: small runs and `check` never fork
            context = multiprocessing.get_context("fork")
            self._pool = context.Pool(self._workers, initializer=_init_worker, initargs=(self.evaluator,))
        chunks = [blobs[i : i + PARALLEL_CHUNK] for i in range(0, len(blobs), PARALLEL_CHUNK)]
        return self._pool.map_async(_evaluate_in_worker, chunks)

    def _record_result(self, name: str, job: "_Job", result, outcome: PageOutcome) -> None:
        ok, value, verdict = result
        if not ok:  # keep the record and the last good evidence; an empty hash makes it evaluate again
            payload = self._sources[name].quarantine_payload(job.raw)
            outcome.quarantine.append(QuarantineEntry(name, job.raw.key, "evaluate", payload, value))
            outcome.rows.append((job.code, name, job.blob, "", job.revision, None, None, "failed"))
            return
        revision = job.revision + 1
        self.report.revisions += 1
        outcome.rows.append((job.code, name, job.blob, job.digest, revision, value, verdict, "evaluated"))
        outcome.revisions.append((job.code, revision))
        outcome.evidence[(job.code, revision)] = value

    # -- delivery -----------------------------------------------------------------------------
    def deliver(self, sinks: dict[str, Sink], fresh: dict[tuple[str, int], bytes] | None = None) -> None:
        """Deliver the revision log beyond each sink's mark, batch by batch.

        `fresh` holds evidence just evaluated (saves reading it back). SinkUnavailable stops the run.
        """
        size = self.settings.sync.batch_size
        for name, sink in sinks.items():
            mark, _ = self.ledger.sink(name)
            while rows := self.ledger.waiting(name, mark, size):
                mark = rows[-1][0]
                self._deliver_batch(name, sink, self._items(rows, fresh or {}), mark)

    def _items(self, rows: list[tuple[int, str, int]], fresh: dict) -> list[EvidenceItem]:
        missing = [dossier for _, dossier, revision in rows if (dossier, revision) not in fresh]
        stored = self.ledger.evidence_blobs(missing) if missing else {}
        items = []
        for _, dossier, revision in rows:
            if (dossier, revision) in fresh:
                blob = fresh[(dossier, revision)]
            elif stored.get(dossier, (None,))[0] == revision:
                blob = stored[dossier][1]
            else:  # superseded before this sink saw it; the newer revision follows in the log
                log.warning("revision %s@%s superseded before delivery", dossier, revision)
                continue
            items.append(EvidenceItem(dossier, revision, blob=blob))
        return items

    def _deliver_batch(self, name: str, sink: Sink, items: list[EvidenceItem], mark: int) -> None:
        result = sink.write(items) if items else WriteResult()
        accepted, rejected = set(result.accepted), result.rejected
        missing = [item.key for item in items if item.key not in accepted and item.key not in rejected]
        if missing:
            raise SinkUnavailable(f"sink {name!r} acknowledged neither {missing[0]} nor {len(missing) - 1} other(s)")
        refused = [
            QuarantineEntry(f"sink:{name}", item.key, "write", item.json().decode(), [rejected[item.key]])
            for item in items if item.key in rejected and item.key not in accepted
        ]
        self.ledger.acknowledge(name, mark, sink.context.state, refused, self.run_info.run_id if self.run_info else None)
        self.report.quarantined += len(refused)
        for entry in refused:
            self.registry.hook.record_quarantined(run=self.run_info, entry=entry)

    # -- quarantine replay --------------------------------------------------------------------
    def replay(self, entry: QuarantineEntry) -> list[str]:
        """Feed a quarantined record through the current mapping, procedures and sinks again.

        Returns the errors that remain (empty: replayed and removed from the quarantine).
        """
        self.ledger.acquire(LOCK, self.settings.sync.lock_lease_minutes * 60)
        run_id, started = self.ledger.start_run([f"replay:{entry.id}"])
        self.run_info = RunInfo(run_id, started, [entry.source], list(self.settings.sinks))
        sinks = {name: self.open_sink(name) for name in self.settings.sinks}
        try:
            errors = self._replay(entry, sinks)
        finally:
            for sink in sinks.values():
                sink.close()
            self.report.outcome = "ok" if not errors else "quarantined"
            self.ledger.finish_run(run_id, self.report)
            self.ledger.release(LOCK)
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
