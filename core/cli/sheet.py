"""`isobridge sheet`: the process control sheet (Phiếu kiểm soát, Mẫu 06/05) of one dossier as HTML."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ..report.aggregate import problems
from ..report.names import ProcedureNames
from ..report.sheet import FORMS, render_sheet
from ..report.source import find_dossier
from .. import samples
from .common import open_ledger, open_settings


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register the command."""
    parser = commands.add_parser("sheet", help="process control sheet (Phiếu kiểm soát) of a dossier, as HTML")
    parser.add_argument("dossier", help="dossier code (mã hồ sơ)")
    given = parser.add_mutually_exclusive_group(required=True)
    given.add_argument("--evidence", help="evidence JSON Lines file, '-' for stdin")
    given.add_argument("--config", type=Path, help="deployment settings: read the evidence from its ledger")
    parser.add_argument("--form", choices=sorted(FORMS), default="06",
                        help="06: Mẫu 06, TT 03/2025/TT-VPCP (default); 05: Mẫu 05, TT 01/2018/TT-VPCP")
    parser.add_argument("--procedures", default=str(samples.PROCEDURES), help="procedure folder (for names)")
    parser.add_argument("--out", default=None, help="HTML file (default phieu-kiem-soat-<dossier>.html)")
    parser.set_defaults(run=run)


def default_name(dossier: str) -> str:
    """A safe file name for a dossier's sheet."""
    return "phieu-kiem-soat-" + re.sub(r"[^A-Za-z0-9._-]+", "_", dossier) + ".html"


def run(args: argparse.Namespace) -> int:
    """Write the sheet; exit 1 when the dossier is not in the file or its evidence is unusable."""
    bad: list[str] = []
    procedures = args.procedures
    if args.config:
        settings = open_settings(args.config, args)
        ledger = open_ledger(settings.ledger.path, args)
        evidence, where = ledger.evidence(args.dossier), str(settings.ledger.path)
        ledger.close()
        procedures = settings.procedures.dir
    else:
        where = args.evidence
        evidence = find_dossier(args.evidence, args.dossier,
                                lambda place, reasons: len(bad) < 20 and bad.append(f"{place}: {'; '.join(reasons)}"))
    for line in bad:
        print(f"isobridge sheet: skipped {line}", file=sys.stderr)
    if evidence is None:
        print(f"isobridge sheet: dossier {args.dossier!r} is not in {where}", file=sys.stderr)
        return 1
    reasons = problems(evidence)
    if reasons:
        print(f"isobridge sheet: evidence of {args.dossier!r} is unusable: {'; '.join(reasons)}", file=sys.stderr)
        return 1
    out = Path(args.out or default_name(args.dossier))
    out.write_text(render_sheet(evidence, args.form, ProcedureNames.from_dir(procedures)), encoding="utf-8")
    print(f"sheet {out}", file=sys.stderr)
    return 0
