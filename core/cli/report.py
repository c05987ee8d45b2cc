"""`isobridge report`: the quality-objective report of a period as HTML (plus full CSV lists)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..report.agencies import CountingRules
from ..report.aggregate import Period
from ..report.build import write_report
from ..report.html import percent
from ..report.names import ProcedureNames
from ..report.objectives import Objectives
from ..report.source import latest_revisions, read_evidence
from .. import samples
from .common import add_period_arguments, open_ledger, open_settings


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register the command."""
    parser = commands.add_parser("report", help="quality-objective report (HTML) from evidence")
    given = parser.add_mutually_exclusive_group(required=True)
    given.add_argument("--evidence", help="evidence JSON Lines file, '-' for stdin")
    given.add_argument("--config", type=Path, help="deployment settings: read the latest evidence from its ledger")
    parser.add_argument("--agency", default=None, help="only this agency (default: the whole province)")
    add_period_arguments(parser)
    parser.add_argument("--objectives", default=None, help="quality objectives TOML (default: on-time rate ≥ 98 %%)")
    parser.add_argument("--procedures", default=str(samples.PROCEDURES), help="procedure folder (for names)")
    parser.add_argument("--out", default="report.html", help="HTML file (default report.html)")
    parser.add_argument("--rows", type=int, default=200, help="ledger/nonconformity rows shown in the HTML")
    parser.add_argument("--withdrawn", choices=("on_time", "by_date", "excluded"), default=None,
                        help="withdrawn dossiers (status 7): counted processed on time (the national portal, default),"
                             " processed by their dates, or left out of the rate")
    parser.add_argument("--refused", choices=("excluded", "listed"), default=None,
                        help="refused dossiers (status 3): not counted (the portal, default) or listed in their column")
    parser.add_argument("--granularity", choices=("day", "minute"), default=None,
                        help="on time by local day (the portal, default) or by the due minute")
    parser.add_argument("--all-lines", action="store_true",
                        help="count every line (default: only each dossier's last line, its latest revision)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Write the report; exit 3 when some evidence lines could not be used."""
    if args.start and args.end and args.start > args.end:
        raise ValueError(f"--from {args.start} is after --to {args.end}")
    objectives = Objectives.from_file(args.objectives) if args.objectives else None
    names = ProcedureNames.from_dir(args.procedures)
    bad: list[str] = []
    unusable = 0

    def reject(where: str, reasons: list[str]) -> None:
        nonlocal unusable
        unusable += 1
        if len(bad) < 20:  # the first ones are shown; memory stays bounded
            bad.append(f"{where}: {'; '.join(reasons)}")

    settings = open_settings(args.config, args) if args.config else None
    rules = settings.documents.counting if settings else CountingRules()
    rules = rules.model_copy(update={key: value for key in ("withdrawn", "refused", "granularity")
                                     if (value := getattr(args, key)) is not None})
    if args.config:
        ledger = open_ledger(settings.ledger, args)
        evidence = ledger.iter_evidence()
        names = ProcedureNames.from_dir(settings.procedures.dir)
    else:
        ledger = None
        evidence = (read_evidence if args.all_lines else latest_revisions)(args.evidence, reject)
    try:
        data, files = write_report(evidence, args.out, Period(args.start, args.end),
                                   args.agency, objectives, names, args.rows, rules)
    finally:
        if ledger is not None:
            ledger.close()
    total = data.total
    print(f"report {files.html} (ledger {files.ledger_csv.name}, nonconformities {files.nonconformities_csv.name}):"
          f" {total.dossiers} dossiers, finished {total.finished}, on-time rate {percent(total.on_time_rate)},"
          f" open overdue {total.open_overdue}; unusable lines {unusable + data.rejected}", file=sys.stderr)
    for line in (bad + data.rejections)[:20]:
        print(f"  {line}", file=sys.stderr)
    return 3 if unusable or data.rejected else 0
