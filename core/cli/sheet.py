"""`isobridge sheet`: the process control sheet (Phiếu kiểm soát, Mẫu 06/05) of one dossier as HTML or PDF."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ..report.aggregate import problems
from ..report.names import ProcedureNames
from ..report.sheet import FORMS, render_sheet
from ..report.pdf import print_pdf
from ..report.source import find_dossier
from .. import samples
from .common import open_ledger, open_settings


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register the command."""
    parser = commands.add_parser("sheet", help="process control sheet (Phiếu kiểm soát) of a dossier, as HTML")
    parser.add_argument("dossier", help="dossier code (mã hồ sơ)")
    parser.add_argument("--evidence", help="evidence JSON Lines file, '-' for stdin (default: the ledger of --config)")
    parser.add_argument("--config", type=Path,
                        help="deployment settings: agency headers ([documents]) and, without --evidence, the ledger")
    parser.add_argument("--form", choices=sorted(FORMS), default="06",
                        help="06: Mẫu 06, TT 03/2025/TT-VPCP, A4 (default); 05: Mẫu 05, TT 01/2018/TT-VPCP, A5")
    parser.add_argument("--procedures", default=None, help="procedure folder (for names; default: the settings' or the samples)")
    parser.add_argument("--out", default=None, help="HTML file (default phieu-kiem-soat-<dossier>.html)")
    parser.add_argument("--pdf", action="store_true", help="also print it to PDF beside the HTML (headless Chromium)")
    parser.set_defaults(run=run)


def default_name(dossier: str) -> str:
    """A safe file name for a dossier's sheet."""
    return "phieu-kiem-soat-" + re.sub(r"[^A-Za-z0-9._-]+", "_", dossier) + ".html"


def run(args: argparse.Namespace) -> int:
    """Write the sheet; exit 1 when the dossier is not in the file or its evidence is unusable."""
    if not args.evidence and not args.config:
        print("isobridge sheet: give --evidence FILE or --config FILE", file=sys.stderr)
        return 2
    bad: list[str] = []
    settings = open_settings(args.config, args) if args.config else None
    procedures = args.procedures or (settings.procedures.dir if settings else samples.PROCEDURES)
    if not args.evidence:
        ledger = open_ledger(settings.ledger, args)
        evidence, where = ledger.evidence(args.dossier), settings.ledger.where()
        ledger.close()
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
    documents = settings.documents if settings else None
    out.write_text(render_sheet(evidence, args.form, ProcedureNames.from_dir(procedures), documents), encoding="utf-8")
    print(f"sheet {out}", file=sys.stderr)
    if args.pdf:
        print(f"sheet {print_pdf(out, out.with_suffix('.pdf'))}", file=sys.stderr)
    return 0
