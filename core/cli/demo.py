"""`isobridge demo`: the whole chain on the bundled sample data, nothing to configure."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from .. import samples
from ..ledger import Ledger
from ..plugins import load_plugins
from ..settings import load_settings
from ..report.aggregate import Period
from ..report.build import write_report
from ..report.names import ProcedureNames
from ..report.sheet import render_sheet
from ..sync import SyncJob
from .sheet import default_name
from .audit import DEMO_SEED, demo_sample
from .rollup import demo_rollup

DEMO_CONFIG = """# Written by `isobridge demo`: a complete deployment on the bundled sample data.
[ledger]
path = "ledger.db"

[sources.sample]
adapter = "caselog"
folder = "inbox"

[sinks.evidence]
adapter = "jsonl"
path = "evidence.jsonl"

[sinks.history]
adapter = "ledger"

[sinks.mining]
# IEEE 1849-2016 XES event log for process-mining tools.
adapter = "xes"
path = "evidence.xes"

[sinks.spreadsheet]
adapter = "csv"
directory = "csv"
"""


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register the command."""
    parser = commands.add_parser("demo", help="run the whole chain on bundled sample data")
    parser.add_argument("--out", type=Path, default=Path("isobridge-demo"), help="folder for the results")
    parser.set_defaults(run=run)


def prepare(folder: Path) -> Path:
    """A fresh demo deployment folder; returns its configuration file."""
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "inbox").mkdir(parents=True)
    shutil.copy(samples.CASES, folder / "inbox" / "cases.jsonl")
    config = folder / "isobridge.toml"
    config.write_text(DEMO_CONFIG, encoding="utf-8")
    return config


def run(args: argparse.Namespace) -> int:
    """Sync the sample case log into the ledger and evidence files, then say where they are."""
    folder = args.out.resolve()
    config = prepare(folder)
    settings = load_settings(config)
    ledger = Ledger(settings.ledger.path)
    try:
        report = SyncJob(settings, load_plugins(), ledger, base_dir=folder).run()
    finally:
        ledger.close()
    print(f"isobridge demo: {report.records} dossiers synced, {report.revisions} evidence revisions,"
          f" {report.quarantined} quarantined ({report.duration_seconds:.2f} s)")
    if report.outcome == "failed":
        print(f"isobridge demo: failed: {report.error}", file=sys.stderr)
        return 1
    report_html, sheets = documents(settings, folder)
    audit_html = demo_sample(settings, folder)
    # -- coverage and drift from the sample catalogue (issue 17) --
    from .coverage import demo_coverage
    coverage_html = demo_coverage(settings, folder)
    print(f"  configuration   {config}")
    print(f"  ledger          {settings.ledger.path}")
    print(f"  evidence        {folder / 'evidence.jsonl'}  {folder / 'evidence.xes'}  {folder / 'csv'}/")
    print(f"  report          {report_html}")
    print(f"  audit sample    {audit_html}  (seed {DEMO_SEED})")
    print(f"  coverage        {coverage_html}")
    # -- the province's roll-up (`report --rollup`): third quarter of 2026 against the second --
    print(f"  roll-up         {demo_rollup(settings, folder, DEMO_SEED)}  (seed {DEMO_SEED})")
    for sheet in sheets:
        print(f"  control sheet   {sheet}")
    return 0


def documents(settings, folder: Path, sheet_count: int = 3) -> tuple[Path, list[Path]]:
    """The quality-objective report and a few process control sheets, from the ledger."""
    names = ProcedureNames.from_dir(settings.procedures.dir)
    ledger = Ledger(settings.ledger.path)
    try:
        files = write_report(ledger.iter_evidence(), folder / "report.html", Period(None, None), None, None, names)[1]
        interesting = [e for e in ledger.iter_evidence() if e["nonconformities"] and len(e["steps"]) > 2]
        sheets = []
        for evidence in (interesting or list(ledger.iter_evidence()))[:sheet_count]:
            path = folder / default_name(evidence["dossier"])
            path.write_text(render_sheet(evidence, "06", names), encoding="utf-8")
            sheets.append(path)
    finally:
        ledger.close()
    return files.html, sheets

