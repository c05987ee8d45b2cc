"""`isobridge explain DOSSIER`: why a dossier got its verdict, from the ledger or an evidence file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from .. import samples
from ..calendar import WorkingCalendar
from ..engine import Evaluator
from ..merge import StepAuthority, waiting_for
from ..privacy import EVENT_PERSONAL_FIELDS, PERSONAL_FIELDS
from ..procedures import ProcedureBook
from ..report.explain import NOT_KEPT, Explainer, header_times
from ..report.explain_text import render_text
from ..report.source import find_dossier, read_evidence
from .common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, open_ledger, open_settings
from .evaluate import parse_as_of

WITHHELD = "(withheld: personal data of a raw case log)"


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register the command."""
    parser = commands.add_parser("explain", help="why a dossier got its verdict: record, sources, dues, rules")
    parser.add_argument("dossier", help="dossier code (mã hồ sơ)")
    parser.add_argument("--config", type=Path, help="deployment settings: the ledger (without --evidence),"
                        " procedures, calendar and step sources")
    parser.add_argument("--evidence", help="evidence JSON Lines file instead of the ledger ('-' for stdin)")
    parser.add_argument("--cases", help="case-log JSON Lines file holding the dossier's record (with --evidence)")
    parser.add_argument("--procedures", default=None, help="procedure folder (default: the settings' or the samples)")
    parser.add_argument("--calendar", default=None, help="calendar TOML file (default: the settings' or the sample)")
    parser.add_argument("--as-of", type=parse_as_of, default=None, help="instant open rows are measured to (default now)")
    parser.add_argument("--json", action="store_true", help="print the explanation as JSON (docs/evidence-outputs.md)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the explanation; exit 1 (one line) when the dossier is unknown or has no evidence."""
    if not args.evidence and not args.config:
        print("isobridge explain: give --config FILE (the ledger) or --evidence FILE [--cases FILE]", file=sys.stderr)
        return EXIT_USAGE
    settings = open_settings(args.config, args) if args.config else None
    procedures = args.procedures or (settings.procedures.dir if settings else samples.PROCEDURES)
    calendar = args.calendar or (settings.calendar.file if settings else samples.CALENDAR)
    evaluator = Evaluator(ProcedureBook.from_dir(procedures), WorkingCalendar.from_file(calendar))
    if args.as_of is not None:
        evaluator.as_of = args.as_of
    found = _from_evidence(args) if args.evidence else _from_ledger(args, settings)
    if isinstance(found, str):
        print(f"isobridge explain: {found}", file=sys.stderr)
        return EXIT_FAILED
    evidence, record, evaluated, origin = found
    explanation = Explainer(evaluator).explain(evidence, record, origin, evaluated)
    if args.json:
        sys.stdout.write(orjson.dumps(explanation, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(render_text(explanation))
    return EXIT_OK


def _from_ledger(args: argparse.Namespace, settings) -> tuple | str:
    ledger = open_ledger(settings.ledger, args)
    try:
        stored = ledger.stored(args.dossier)
    finally:
        ledger.close()
    where = settings.ledger.where()
    if stored is None:
        return f"dossier {args.dossier!r} is not in {where}"
    if stored["evidence"] is None:
        lacking = "; ".join(waiting_for(stored["record"])) if stored["state"] == "pending" else ""
        return (f"dossier {args.dossier!r} has no evidence yet in {where} (state {stored['state']}"
                + (f", waiting for {lacking})" if lacking else ")"))
    rules = settings.sync.step_source
    record = stored["record"]
    evaluated = StepAuthority(rules.default, rules.procedures, rules.agencies).view(record)
    origin = {"kind": "ledger", "path": where, "last_source": stored["last_source"],
              "last_record_key": stored["record_key"] or "(not kept: stored before record keys were)",
              "first_stored_at": stored["first_stored_at"] + " UTC", "last_stored_at": stored["last_stored_at"] + " UTC",
              "revision": stored["revision"], "state": stored["state"], "provenance": NOT_KEPT,
              "header_from": header_times(record)}
    return stored["evidence"], record, evaluated, origin


def _from_evidence(args: argparse.Namespace) -> tuple | str:
    skipped: list[str] = []
    evidence = find_dossier(args.evidence, args.dossier, lambda place, reasons: skipped.append(place))
    if evidence is None:
        return f"dossier {args.dossier!r} is not in {args.evidence}"
    origin = {"kind": "evidence", "path": args.evidence}
    if not args.cases:
        origin["provenance"] = "no case log given (--cases FILE): the record and its events are not shown"
        return evidence, None, None, origin
    record, where = None, None
    for place, line in read_evidence(args.cases, lambda place, reasons: None):
        if isinstance(line, dict) and line.get("dossier") == args.dossier:
            record, where = line, place
    if record is None:
        return f"dossier {args.dossier!r} is in {args.evidence} but not in {args.cases}"
    origin.update(case_log=where, where=f"case log {where}",
                  provenance="a case-log line: every event comes from it; personal fields withheld")
    return evidence, _withhold(record), None, origin


def _withhold(record: dict) -> dict:
    """A raw case-log record without its personal data (the ledger only ever holds pseudonyms)."""
    kept = {name: WITHHELD if name in PERSONAL_FIELDS else value for name, value in record.items()}
    events = record.get("events")
    if isinstance(events, list):
        kept["events"] = [{name: WITHHELD if name in EVENT_PERSONAL_FIELDS else value for name, value in event.items()}
                          if isinstance(event, dict) else event for event in events]
    return kept
