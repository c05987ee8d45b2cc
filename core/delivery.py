"""Delivery of the revision log to the sinks: the delivery half of :class:`sync.SyncJob`.

One process delivers to a sink at a time (its lock `sink:NAME`). A sync opens the sinks whose
lock it can take and delivers to them page by page; the others are registered at once (so none
misses a revision stored from then on) and delivered to at the run's end, once their holder lets
go. `isobridge deliver` only delivers. Each acknowledgement is one transaction moving the sink's
delivered mark and keeping its state; what a sink refuses is quarantined.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .adapters import EvidenceItem, Sink, SinkUnavailable, WriteResult
from .errors import ConfigurationError, LockHeld
from .runs import QuarantineEntry

if TYPE_CHECKING:
    from .ledger import Ledger
    from .plugins import Registry
    from .runs import RunInfo, RunReport
    from .settings import Settings

log = logging.getLogger("isobridge.sync")


def sink_lock(name: str) -> str:
    """The lock of delivery to a sink: one process delivers to a sink at a time."""
    return f"sink:{name}"


class SinkDelivery:
    """Opening sinks and delivering the revision log to them (mixed into `SyncJob`, whose
    settings, ledger, plugins, report and open sinks it uses)."""

    settings: "Settings"
    ledger: "Ledger"
    registry: "Registry"
    report: "RunReport"
    run_info: "RunInfo | None"
    dry_run: bool
    _sinks: dict[str, Sink]

    context: Callable[..., Any]
    """The adapter context of an instance (SyncJob's)."""
    _options: Callable[..., Any]
    """An adapter's options, validated and with paths resolved (SyncJob's)."""

    def open_sink(self, name: str) -> Sink:
        """Instantiate the configured sink `name` with its persisted state."""
        options, state = self.register_sink(name)
        cls = self.registry.sink(str(options.get("adapter")))
        return cls(self._options(cls, options, f"sinks.{name}"), self.context(name, state))

    def register_sink(self, name: str) -> tuple[dict, dict]:
        """The sink's options (less the host's `backfill`) and persisted state; a sink seen for the
        first time is registered at the log's end (or, with `backfill`, its start) now, so that no
        revision stored after this instant escapes it, whenever it is opened."""
        options = dict(self.settings.sinks[name])
        backfill = options.pop("backfill", False)  # the host's key, not the adapter's
        if not isinstance(backfill, bool):
            raise ConfigurationError(f"sinks.{name}.backfill: expected true or false, got {backfill!r}")
        return options, self.ledger.sink(name, from_start=backfill)[1]

    def _deliver_owned(self, names: list[str]) -> None:
        self._sinks.update({name: self.open_sink(name) for name in names})
        self.deliver(self._sinks)

    def _open_owned_sinks(self) -> list[str]:
        """Open the sinks whose delivery lock this run can take now; the names of the others."""
        late = []
        for name in self.settings.sinks:
            if self.dry_run:  # a dry run delivers nothing: it needs no lock
                self._sinks[name] = self.open_sink(name)
                continue
            try:
                self.ledger.acquire(sink_lock(name), self.settings.sync.lock_lease_minutes * 60)
            except LockHeld as exc:
                log.info("%s; this run delivers to it when it is free", exc)
                self.register_sink(name)
                late.append(name)
                continue
            self._sinks[name] = self.open_sink(name)
        return late

    def _deliver_late(self, names: list[str]) -> None:
        """Deliver to each sink once its lock is free (waiting up to the lease): what its holder
        left undelivered, e.g. revisions this run committed after the holder's last look.

        The sinks this run holds (delivered to the log's end by now) are let go first, each late
        one right after its delivery: two runs each holding the sink the other waits for would
        otherwise wait for each other until the lease ran out."""
        if not names:
            return
        self._close_sinks(release=True)
        lease = self.settings.sync.lock_lease_minutes * 60
        for name in names:
            try:
                self.ledger.acquire(sink_lock(name), lease, wait_seconds=lease)
            except LockHeld as exc:
                waiting = self.report.counts.setdefault("deliveries_waiting", {})
                waiting[name] = self.ledger.backlog()
                log.warning("%s: revisions wait in the ledger for its next delivery (see `isobridge state show`)", exc)
                continue
            self._sinks[name] = self.open_sink(name)
            self.deliver({name: self._sinks[name]})
            self._close_sinks(release=True)

    def _close_sinks(self, release: bool = False) -> None:
        """Close the open sinks (and with `release`, let go of their delivery locks)."""
        for name, sink in self._sinks.items():
            sink.close()
            if release:
                self.ledger.release(sink_lock(name))
        self._sinks = {}

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
            else:  # superseded before this sink saw it (a backfill, a sink that was down); the newer one follows
                log.debug("revision %s@%s superseded before delivery", dossier, revision)
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
