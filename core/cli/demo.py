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
from ..sync import SyncJob

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
    print(f"  configuration  {config}")
    print(f"  ledger         {settings.ledger.path}")
    print(f"  evidence       {folder / 'evidence.jsonl'}")
    return 0 if report.outcome in ("ok", "quarantined") else 1

