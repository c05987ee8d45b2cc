"""`isobridge generate`: write a seeded, realistic synthetic case log."""

from __future__ import annotations

import argparse
import sys

from ..calendar import WorkingCalendar
from ..generate import CaseLogGenerator
from ..procedures import ProcedureBook
from .. import samples


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register the command."""
    parser = commands.add_parser("generate", help="write a synthetic case log (JSON Lines)")
    parser.add_argument("--dossiers", type=int, default=1000, help="how many dossiers (default 1000)")
    parser.add_argument("--out", default="-", help="output file, '-' for stdout (default)")
    parser.add_argument("--seed", type=int, default=766, help="random seed (default 766)")
    parser.add_argument("--procedures", default=str(samples.PROCEDURES), help="procedure folder")
    parser.add_argument("--calendar", default=str(samples.CALENDAR), help="calendar file")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Generate the file."""
    generator = CaseLogGenerator(
        ProcedureBook.from_dir(args.procedures), WorkingCalendar.from_file(args.calendar), args.seed
    )
    if args.out == "-":
        generator.write(args.dossiers, sys.stdout.buffer)
    else:
        with open(args.out, "wb") as out:
            generator.write(args.dossiers, out)
    return 0
