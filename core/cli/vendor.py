"""`isobridge mapping check` and `isobridge procedures import`: work on a vendor's codes and processes."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ..sync import SyncJob
from .common import EXIT_FAILED, EXIT_OK, add_config_arguments, base_dir, open_deployment


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register `mapping` and `procedures`."""
    mapping = commands.add_parser("mapping", help="check a source's vendor code mapping")
    add_config_arguments(mapping)
    mapping.add_argument("action", choices=["check"])
    mapping.add_argument("--source", required=True, help="configured source name")
    mapping.add_argument("--sample", type=int, default=500, help="records to pull (default 500)")
    mapping.set_defaults(run=run_mapping)
    procedures = commands.add_parser("procedures", help="draft ISO procedure files from a vendor's processes")
    add_config_arguments(procedures)
    procedures.add_argument("action", choices=["import"])
    procedures.add_argument("--source", required=True, help="configured source name")
    procedures.add_argument("--out", type=Path, default=Path("procedures-draft"), help="folder for the drafts")
    procedures.set_defaults(run=run_procedures)


def _source(args: argparse.Namespace):
    settings, registry, ledger = open_deployment(args)
    job = SyncJob(settings, registry, ledger, base_dir=base_dir(args))
    job.close()
    return job.open_source(args.source), ledger


def run_mapping(args: argparse.Namespace) -> int:
    """List every vendor code seen in a sample with no mapping; exit 1 when there is one."""
    from isobridge.adapters.rest.check import unmapped_codes

    source, ledger = _source(args)
    try:
        if not hasattr(source, "unmapped"):
            print(f"source {args.source!r} ({source.name}) has no vendor code mapping to check")
            return EXIT_OK
        codes = unmapped_codes(source, args.sample)
    finally:
        source.close()
        ledger.close()
    for (category, code), count in codes.items():
        print(f"{category}\t{code}\t{count}")
    print(f"{len(codes)} unmapped code(s) in a sample of up to {args.sample} records", file=sys.stderr)
    return EXIT_FAILED if codes else EXIT_OK


def run_procedures(args: argparse.Namespace) -> int:
    """Write one draft procedure TOML per vendor process, for the quality team to review."""
    source, ledger = _source(args)
    try:
        if not hasattr(source, "draft_procedures"):
            print(f"source {args.source!r} ({source.name}) cannot describe its processes", file=sys.stderr)
            return EXIT_FAILED
        drafts = source.draft_procedures()
    finally:
        source.close()
        ledger.close()
    args.out.mkdir(parents=True, exist_ok=True)
    for text in drafts:
        code = re.search(r'^code = "([^"]*)"', text, re.M)
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", code.group(1) if code else f"draft-{len(drafts)}")
        path = args.out / f"{name}.toml"
        path.write_text(text, encoding="utf-8")
        print(path)
    print(f"{len(drafts)} draft procedure(s) in {args.out}: review them before use", file=sys.stderr)
    return EXIT_OK
