"""`isobridge state`, `runs` and `quarantine`: what the ledger remembers, for operators."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone

from ..files import unfinished_lines
from ..ledger import checkpoint_notes
from ..privacy import PayloadScrubber, Pseudonymizer
from ..sync import SyncJob
from .. import ledger_schema
from ..ledger_copy import copy_ledger
from ..ledger_db import connect
from ..settings import LedgerSettings
from .common import (EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_config_arguments, base_dir, open_deployment, open_ledger,
                     open_settings)


def _entry_id(text: str) -> int | str:
    """A quarantine entry's id (a whole number), or 'all'."""
    if text == "all":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an entry id (a whole number, or 'all' for replay)") from None


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register `state`, `runs` and `quarantine`."""
    state = commands.add_parser("state", help="show or reset source checkpoints, remove a dead sync's lock,"
                                " migrate the ledger's schema, or copy the ledger to another backend")
    add_config_arguments(state)
    state.add_argument("action", choices=["show", "reset", "unlock", "migrate", "copy"])
    state.add_argument("source", nargs="?", help="source to reset")
    state.add_argument("--to", default=None, help="copy: the new ledger, a postgresql:// URL (password from"
                       " PGPASSWORD or ~/.pgpass) or a SQLite file path")
    state.set_defaults(run=run_state)
    runs = commands.add_parser("runs", help="list recent sync runs")
    add_config_arguments(runs)
    runs.add_argument("--last", type=int, default=20, help="how many (default 20)")
    runs.set_defaults(run=run_runs)
    quarantine = commands.add_parser("quarantine", help="list, show, replay or discard quarantined records")
    add_config_arguments(quarantine)
    quarantine.add_argument("action", choices=["list", "show", "replay", "discard"])
    quarantine.add_argument("id", nargs="?", type=_entry_id, help="entry id, or 'all' for replay")
    quarantine.set_defaults(run=run_quarantine)


def run_state(args: argparse.Namespace) -> int:
    """Show checkpoints, or reset one source's; migrate the schema; copy the ledger."""
    if args.action in ("migrate", "copy"):
        return (run_migrate if args.action == "migrate" else run_copy)(args)
    _, _, ledger = open_deployment(args)
    if args.action == "unlock":
        print(f"removed {ledger.unlock()} lock(s); make sure no sync is running")
        return EXIT_OK
    if args.action == "reset":
        if not args.source:
            print("isobridge state reset: name the source to reset", file=sys.stderr)
            return EXIT_FAILED
        ledger.reset(args.source)
        print(f"checkpoint of {args.source} reset: the next sync reads it from the beginning")
        return EXIT_OK
    for source, cursor, updated in ledger.checkpoints():
        shown = cursor if cursor is None or len(cursor) < 200 else cursor[:197] + "..."
        print(f"{source}\t{updated}\t{shown}")
        for note in [*checkpoint_notes(cursor), *unfinished_lines(cursor)]:
            print(f"  note: {note}")
    for name, pid, host, seen in ledger.locks():
        print(f"lock {name}: held by pid {pid} on {host}, last seen {seen}")
    pending = ledger.pending()
    print(f"backlog: {ledger.backlog()} deliveries waiting; pending dossiers: {len(pending)}")
    if pending:
        print("pending (cannot be evaluated yet):\ndossier\tsource\tsince\tage\tmissing")
    now = datetime.now(timezone.utc)
    for dossier, source, missing, since in pending:
        print(f"{dossier}\t{source}\t{since}\t{_age(now, since)}\t{', '.join(missing) or '?'}")
    return EXIT_OK


def run_migrate(args: argparse.Namespace) -> int:
    """Create the ledger's schema, or bring it to this isobridge's version."""
    settings = open_settings(args.config, args)
    db = connect(settings.ledger)
    try:
        before, after = ledger_schema.migrate(db)
    finally:
        db.close()
    done = "created" if before is None else ("up to date" if before == after else f"migrated from version {before}")
    print(f"ledger {settings.ledger.where()}: schema {done} (version {after})")
    return EXIT_OK


def run_copy(args: argparse.Namespace) -> int:
    """Copy the configured ledger to `--to`, then verify it table by table."""
    if not args.to:
        print("isobridge state copy: give --to URL-or-PATH", file=sys.stderr)
        return EXIT_USAGE
    settings = open_settings(args.config, args)
    target_settings = LedgerSettings(url=args.to) if args.to.startswith(("postgresql:", "postgres:")) \
        else LedgerSettings(path=base_dir(args) / args.to)
    ledger = open_ledger(settings.ledger, args)
    target = connect(target_settings)
    try:
        checks = copy_ledger(ledger.db, target)
    finally:
        target.close()
        ledger.close()
    for check in checks:
        print(f"{check.table}\t{check.rows} rows\t{check.digest}\tsame")
    print(f"ledger copied to {target_settings.where()}: every table verified; point [ledger] there to use it")
    return EXIT_OK


def _age(now: datetime, since: str) -> str:
    """`3d 4h` (or `5h 2m`) since an instant stored as UTC text."""
    try:
        moment = datetime.fromisoformat(since)
    except (TypeError, ValueError):
        return "?"
    seconds = max(0, int((now - (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc))).total_seconds()))
    days, rest = divmod(seconds, 86_400)
    return f"{days}d {rest // 3600}h" if days else f"{rest // 3600}h {rest % 3600 // 60}m"


def run_runs(args: argparse.Namespace) -> int:
    """Print recent runs as a table."""
    _, _, ledger = open_deployment(args)
    print("id\tstarted\tfinished\tsources\toutcome\trecords\tdossiers\trevisions\tquarantined\tpending\tseconds\terror")
    for row in ledger.runs(args.last):
        print("\t".join("" if value is None else str(value) for value in row))
    return EXIT_OK


def run_quarantine(args: argparse.Namespace) -> int:
    """Operate on the quarantine."""
    settings, registry, ledger = open_deployment(args)
    key = settings.privacy.pseudonym_key
    secret = key.get_secret_value() if key else None
    ledger.protect(secret)
    if args.action == "list":
        for e in ledger.quarantined():
            print(f"{e.id}\t{e.at}\t{e.source}\t{e.stage}\t{e.key}\t{e.errors[0] if e.errors else ''}")
        return EXIT_OK
    if args.id is None:
        print(f"isobridge quarantine {args.action}: give an entry id", file=sys.stderr)
        return EXIT_FAILED
    if args.action == "replay":
        job = SyncJob(settings, registry, ledger, base_dir=base_dir(args))
        entries = ledger.quarantined() if args.id == "all" else ledger.quarantined(args.id)
        failed = 0
        for entry in entries:
            errors = job.replay(entry)
            failed += bool(errors)
            print(f"{entry.id}: {'replayed' if not errors else 'still failing: ' + '; '.join(errors)}")
        return EXIT_FAILED if failed or not entries else EXIT_OK
    entries = ledger.quarantined(args.id)
    if not entries:
        print(f"no quarantine entry {args.id}", file=sys.stderr)
        return EXIT_FAILED
    if args.action == "discard":
        ledger.discard(args.id)
        print(f"discarded {args.id}")
        return EXIT_OK
    entry = entries[0]
    scrubbed = PayloadScrubber(Pseudonymizer(secret or ledger.pseudonym_key())).view(entry.payload)
    print(json.dumps({"id": entry.id, "at": entry.at, "source": entry.source, "stage": entry.stage,
                      "key": entry.key, "errors": entry.errors, "payload (scrubbed view; the original is kept"
                      " sealed, for replay)": scrubbed}, ensure_ascii=False, indent=2))
    return EXIT_OK
