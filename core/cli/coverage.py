"""`isobridge coverage`: which procedures have an ISO procedure in force, and drift from the national catalogue."""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime
from pathlib import Path

from ..calendar import VN_TZ, WorkingCalendar
from ..procedures import ProcedureBook
from ..report.aggregate import Period
from ..report.catalogue import SAMPLE_CATALOGUE, Catalogue, CatalogueMapping, read_catalogue
from ..report.coverage import count_coverage
from ..report.coverage_paper import CoverageInput, write_coverage
from ..report.drift import NOTES, cutoffs, drift
from ..report.names import ProcedureNames
from ..settings import Settings
from .common import add_period_arguments, iso_day, open_ledger, open_settings


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register the command."""
    parser = commands.add_parser("coverage", help="ISO procedure coverage per agency and drift from the national"
                                                  " catalogue (HTML, CSV)")
    parser.add_argument("--config", type=Path, required=True,
                        help="deployment settings: count its ledger's dossiers (failed ones too: an evidence file"
                             " lacks the dossiers no ISO procedure covers)")
    parser.add_argument("--agency", default=None, help="only this agency (default: every agency, each apart)")
    add_period_arguments(parser, "reception day")
    parser.add_argument("--procedures", default=None, help="procedure folder (default: the settings')")
    parser.add_argument("--catalogue", type=Path, default=None,
                        help="an export of the national catalogue of administrative procedures (CSV or XLSX)")
    parser.add_argument("--catalogue-mapping", type=Path, default=None,
                        help="its column mapping (TOML; default: mappings/catalogue/csdl-quoc-gia.toml)")
    parser.add_argument("--as-of", type=iso_day, default=None,
                        help="day the drift is judged on (default: --to, else today)")
    parser.add_argument("--out", default="coverage.html", help="HTML file (default coverage.html); CSVs go beside it")
    parser.set_defaults(run=run)


def _hours_per_day(settings: Settings) -> float:
    return WorkingCalendar.from_file(settings.calendar.file).day_seconds / 3600


def build(settings: Settings, args: argparse.Namespace) -> CoverageInput:
    """Count the ledger's dossiers and, with a catalogue, find the drift."""
    folder = args.procedures or settings.procedures.dir
    book = ProcedureBook.from_dir(folder)
    catalogue: Catalogue | None = None
    if args.catalogue:
        catalogue = read_catalogue(args.catalogue, CatalogueMapping.load(args.catalogue_mapping))
    ledger = open_ledger(settings.ledger, args)
    try:
        coverage = count_coverage(ledger.iter_records(evidence=False), book, Period(args.start, args.end), args.agency,
                                  cutoffs(catalogue) if catalogue else None)
    finally:
        ledger.close()
    as_of = date.fromisoformat(args.as_of or args.end or datetime.now(VN_TZ).date().isoformat())
    findings = drift(book, catalogue, coverage, as_of, _hours_per_day(settings), args.agency) if catalogue else []
    names = ProcedureNames(book)
    listed = catalogue.entries if catalogue else {}

    def name(code: str) -> str:
        found = names.procedure(code)
        if found != code:
            return found
        return listed[code].name if code in listed else ""

    return CoverageInput(coverage, str(settings.ledger.where()), str(folder), as_of, catalogue, findings, name)


def run(args: argparse.Namespace) -> int:
    """Write the coverage report; exit 3 when records or catalogue rows could not be used."""
    if args.start and args.end and args.start > args.end:
        raise ValueError(f"--from {args.start} is after --to {args.end}")
    data = build(open_settings(args.config, args), args)
    html, written = write_coverage(data, args.out)
    agencies = data.coverage.agencies()
    rejected = len(data.catalogue.errors) if data.catalogue else 0
    drifted = sum(1 for finding in data.findings if finding.kind not in NOTES)
    print(f"coverage {html} ({', '.join(path.name for path in written)}): {len(agencies)} agencies,"
          f" {sum(len(a.procedures) for a in agencies)} agency procedures,"
          f" {sum(len(a.with_state('covered')) for a in agencies)} with an ISO procedure for every dossier;"
          f" unusable records {data.coverage.unusable}"
          + (f"; drift findings {drifted}, catalogue rows unreadable {rejected}" if data.catalogue else ""),
          file=sys.stderr)
    for line in data.coverage.unusable_listed + (data.catalogue.errors[:20] if data.catalogue else []):
        print(f"  {line}", file=sys.stderr)
    return 3 if data.coverage.unusable or rejected else 0


def demo_coverage(settings: Settings, folder: Path) -> Path:
    """The demo's coverage report, against the bundled sample catalogue (`isobridge demo`)."""
    args = argparse.Namespace(start=None, end=None, agency=None, procedures=None, catalogue=SAMPLE_CATALOGUE,
                              catalogue_mapping=None, as_of=None)
    return write_coverage(build(settings, args), folder / "coverage.html")[0]
