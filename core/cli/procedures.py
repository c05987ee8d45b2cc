"""`isobridge procedures import|check`: draft ISO procedures from a vendor, or check the procedure files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..calendar import WorkingCalendar
from ..report.drift_check import check_procedures
from .common import EXIT_FAILED, EXIT_OK, add_config_arguments, open_settings
from .vendor import run_procedures


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register `procedures` with its actions `import` and `check`."""
    procedures = commands.add_parser("procedures", help="ISO procedure files: draft them from a vendor, check them")
    actions = procedures.add_subparsers(dest="action", metavar="ACTION", required=True)
    draft = actions.add_parser("import", help="draft ISO procedure files from a vendor's processes")
    add_config_arguments(draft)
    draft.add_argument("--source", required=True, help="configured source name")
    draft.add_argument("--out", type=Path, default=Path("procedures-draft"), help="folder for the drafts")
    draft.set_defaults(run=run_procedures)
    check = actions.add_parser("check", help="check every procedure file: step limits within the total, units"
                                             " known, versions not overlapping")
    check.add_argument("--config", type=Path, default=None,
                       help="deployment settings: its procedure folder and calendar (default: the samples)")
    check.add_argument("--procedures", type=Path, default=None, help="procedure folder (default: the settings')")
    check.set_defaults(run=run_check)


def run_check(args: argparse.Namespace) -> int:
    """Print one line per problem (and note) naming the file; exit 1 when there are problems."""
    settings = open_settings(args.config, args)
    folder = args.procedures or settings.procedures.dir
    hours = WorkingCalendar.from_file(settings.calendar.file).day_seconds / 3600
    lines = check_procedures(folder, hours)
    for line in lines:
        print(line)
    problems = sum(1 for line in lines if not line.note)
    files = len(list(Path(folder).glob("*.toml")))
    print(f"{files} procedure files in {folder}: {problems} problems, {len(lines) - problems} notes",
          file=sys.stderr)
    return EXIT_FAILED if problems else EXIT_OK
