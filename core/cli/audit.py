"""`isobridge audit-sample`: a reproducible internal-audit sample and the auditor's working paper."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..report.aggregate import Period
from ..report.audit import MAX_SEED, AuditPlan, collect, draw, draw_seed
from ..report.auditpaper import write_paper
from ..report.names import ProcedureNames
from ..report.source import latest_revisions, read_evidence
from ..settings import LedgerSettings, Settings
from .. import samples
from .common import add_period_arguments, open_ledger, open_settings


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < MAX_SEED:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 0 to {MAX_SEED - 1}")
    return value


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register the command."""
    parser = commands.add_parser("audit-sample", help="internal-audit sample and working paper (HTML, CSV)")
    given = parser.add_mutually_exclusive_group(required=True)
    given.add_argument("--evidence", help="evidence JSON Lines file (read twice: not stdin)")
    given.add_argument("--config", type=Path, help="deployment settings: sample the latest evidence of its ledger")
    parser.add_argument("--agency", default=None, help="only this agency (default: every agency, each apart)")
    add_period_arguments(parser, "reception day")
    parser.add_argument("--seed", type=_seed, default=None, help="seed of the draw (default: a new one, printed)")
    parser.add_argument("--procedures", default=None,
                        help="procedure folder (for names; default: the settings' or the samples)")
    parser.add_argument("--out", default="audit-sample.html",
                        help="HTML file (default audit-sample.html); the CSV goes beside it")
    parser.set_defaults(run=run)


def _from_ledger(args: argparse.Namespace, path: "LedgerSettings | Path") -> tuple[AuditPlan, dict[str, dict]]:
    ledger = open_ledger(path, args)
    try:
        plan = draw(ledger.iter_evidence(), args.seed, Period(args.start, args.end), args.agency)
        found = {code: record for code in sorted(plan.dossiers()) if (record := ledger.evidence(code))}
    finally:
        ledger.close()
    return plan, found


def _from_file(args: argparse.Namespace) -> tuple[AuditPlan, dict[str, dict]]:
    if args.evidence == "-":
        raise ValueError("--evidence -: the sample reads the evidence twice; give a file")
    bad: list[str] = []
    unreadable = 0

    def reject(where: str, reasons: list[str]) -> None:
        nonlocal unreadable
        unreadable += 1
        if len(bad) < 20:
            bad.append(f"{where}: {'; '.join(reasons)}")

    plan = draw(latest_revisions(args.evidence, reject), args.seed, Period(args.start, args.end), args.agency)
    plan.rejected += unreadable
    plan.rejections = (bad + plan.rejections)[:20]
    ignore = lambda where, reasons: None  # noqa: E731 - reported in the first pass
    return plan, collect(read_evidence(args.evidence, ignore), plan.dossiers())


def run(args: argparse.Namespace) -> int:
    """Draw the sample and write the paper; exit 3 when some evidence could not be used."""
    if args.start and args.end and args.start > args.end:
        raise ValueError(f"--from {args.start} is after --to {args.end}")
    if args.seed is None:
        args.seed = draw_seed()
    settings = open_settings(args.config, args) if args.config else None
    procedures = args.procedures or (settings.procedures.dir if settings else samples.PROCEDURES)
    plan, found = _from_ledger(args, settings.ledger) if settings else _from_file(args)
    html, sheet, count = write_paper(plan, found, args.out, ProcedureNames.from_dir(procedures))
    total = sum(group.count for group in plan.groups.values())
    print(f"audit sample {html} (working paper {sheet.name}): seed {plan.seed}, {count} of {total} dossiers"
          f" in {len(plan.groups)} procedure groups; unusable records {plan.rejected}", file=sys.stderr)
    for line in plan.rejections:
        print(f"  {line}", file=sys.stderr)
    return 3 if plan.rejected else 0


DEMO_SEED = 2025
"""The demo's seed: its sample is the same on every run."""


def demo_sample(settings: Settings, folder: Path) -> Path:
    """The demo's audit sample and working paper, from its ledger (`isobridge demo`)."""
    args = argparse.Namespace(seed=DEMO_SEED, start=None, end=None, agency=None)
    plan, found = _from_ledger(args, settings.ledger)
    return write_paper(plan, found, folder / "audit-sample.html", ProcedureNames.from_dir(settings.procedures.dir))[0]
