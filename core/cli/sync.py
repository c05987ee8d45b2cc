"""`isobridge sync`, `isobridge deliver` and `isobridge check`."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time

from ..errors import LockHeld
from ..logs import redact
from ..plugins import PluginError
from ..runs import RunReport
from ..sync import ConfigurationError, SyncJob
from .common import (EXIT_FAILED, EXIT_LOCKED, EXIT_OK, EXIT_QUARANTINED, add_config_arguments, base_dir, describe,
                     open_deployment)
from .evaluate import parse_as_of


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register `sync`, `deliver` and `check`."""
    sync = commands.add_parser("sync", help="pull sources, evaluate, push evidence to sinks")
    add_config_arguments(sync)
    sync.add_argument("--source", action="append", help="only this source (repeatable)")
    sync.add_argument("--dry-run", action="store_true", help="fetch, map and evaluate; write and commit nothing")
    sync.add_argument("--limit", type=int, default=None, help="stop after the page that reaches N records")
    sync.add_argument("--as-of", type=parse_as_of, default=None, help="instant for open dossiers (default now)")
    sync.set_defaults(run=run_sync)
    deliver = commands.add_parser("deliver", help="deliver the evidence revisions waiting in the ledger to sinks")
    add_config_arguments(deliver)
    deliver.add_argument("--sink", action="append", help="only this sink (repeatable; default every sink)")
    deliver.set_defaults(run=run_deliver, as_of=None, dry_run=False, limit=None)
    check = commands.add_parser("check", help="check that every source and sink is reachable")
    add_config_arguments(check)
    check.set_defaults(run=run_check)


class Progress:
    """Progress on a terminal (records, rate, quarantined); silent when stderr is not a terminal."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.shown = 0.0
        self.active = sys.stderr.isatty()

    def __call__(self, report: RunReport) -> None:
        """Show the counts so far, at most twice a second."""
        now = time.perf_counter()
        if not self.active or now - self.shown < 0.5:
            return
        self.shown = now
        rate = report.records / max(now - self.started, 1e-9)
        sys.stderr.write(f"\r{report.records} records, {rate:,.0f}/s, {report.revisions} revisions,"
                         f" {report.quarantined} quarantined ")
        sys.stderr.flush()

    def done(self) -> None:
        """End the progress line."""
        if self.active and self.shown:
            sys.stderr.write("\n")


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM (systemctl stop, a Kubernetes pod ending): stop like Ctrl-C


def _default_in_child() -> None:
    """A forked evaluation worker dies of SIGTERM at once, as the pool expects when it ends it:
    a Python handler would wait for the worker to return to Python, never, if it is blocked."""
    if signal.getsignal(signal.SIGTERM) is _stop:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


os.register_at_fork(after_in_child=_default_in_child)


def run_sync(args: argparse.Namespace) -> int:
    """Run the sync; exit 0 ok, 3 finished with quarantined records, 1 failed, 4 locked.

    SIGTERM stops it like Ctrl-C: the run is recorded as interrupted and the lock released, so the
    next scheduled run need not wait for the lock's lease to expire."""
    return _run_job(args, "sync", lambda job: job.run(args.source))


def run_deliver(args: argparse.Namespace) -> int:
    """Deliver what waits in the revision log (waiting up to the lease for each sink's lock);
    exit codes as `sync`'s."""
    return _run_job(args, "deliver", lambda job: job.deliver_only(args.sink))


def _run_job(args: argparse.Namespace, command: str, work) -> int:
    settings, registry, ledger = open_deployment(args)
    progress = Progress()
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stop) if main_thread else None
    try:
        job = SyncJob(settings, registry, ledger, as_of=args.as_of, dry_run=args.dry_run,
                      limit=args.limit, progress=progress, base_dir=base_dir(args))
        report = work(job)
    except LockHeld as exc:
        print(f"isobridge {command}: {describe(exc, args)}", file=sys.stderr)
        return EXIT_LOCKED
    except (ConfigurationError, PluginError) as exc:
        print(f"isobridge {command}: configuration: {describe(exc, args)}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - a source that fails: the run is recorded as failed, the checkpoint stays
        print(f"isobridge {command}: failed: {type(exc).__name__}: {describe(exc, args)}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
        progress.done()
        ledger.close()
    print(
        f"{command} {report.outcome}: {report.records} records, {report.dossiers} dossiers changed,"
        f" {report.revisions} evidence revisions, {report.quarantined} quarantined,"
        f" {report.pending} pending, {report.duration_seconds:.2f} s"
        + (f"; {' '.join(redact(report.error).split())}" if report.error else "")
        + _waiting(report)
        + (" (dry run: nothing written)" if args.dry_run else ""),
        file=sys.stderr,
    )
    return {"ok": EXIT_OK, "quarantined": EXIT_QUARANTINED}.get(report.outcome, EXIT_FAILED)


def _waiting(report: RunReport) -> str:
    """The sinks whose delivery lock stayed held past the lease: their revisions wait in the ledger."""
    waiting = report.counts.get("deliveries_waiting")
    if not waiting:
        return ""
    names = ", ".join(sorted(waiting))
    return (f"; deliveries wait for sink(s) {names}, held by another process past the lease"
            f" ({max(waiting.values())} in the log; `isobridge state show`, `isobridge deliver`)")


def run_check(args: argparse.Namespace) -> int:
    """Check every configured source and sink; exit 1 when one is not ok."""
    settings, registry, ledger = open_deployment(args)
    job = SyncJob(settings, registry, ledger, base_dir=base_dir(args))
    failed = False
    for kind, names, opener in (("source", settings.sources, job.open_source), ("sink", settings.sinks, job.open_sink)):
        for name in names:
            try:
                adapter = opener(name)
                try:
                    result = adapter.check()
                finally:
                    adapter.close()
                ok, message, details = result.ok, result.message, result.details
            except Exception as exc:  # noqa: BLE001 - every adapter is checked, each fault is one line
                ok, message, details = False, describe(exc, args), {}
            failed |= not ok
            extra = ", ".join(f"{k}={v}" for k, v in details.items())
            line = f"{kind} {name}: {'ok' if ok else 'FAILED'} {message}" + (f" ({extra})" if extra else "")
            print(redact(line))
    ledger.close()
    return EXIT_FAILED if failed else EXIT_OK
