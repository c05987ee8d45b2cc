"""`isobridge mapping check` and `isobridge procedures import`: work on a vendor's codes and processes."""

from __future__ import annotations

import argparse
import re
import sys

from ..adapters import DraftsProcedures
from ..errors import UnavailableError
from ..logs import redact
from ..mapping_check import check_mapping
from ..sync import SyncJob
from .common import EXIT_FAILED, EXIT_OK, add_config_arguments, base_dir, open_deployment


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register `mapping` (`procedures import` is registered by the `procedures` command module)."""
    mapping = commands.add_parser("mapping", help="check a source's vendor code mapping")
    add_config_arguments(mapping)
    mapping.add_argument("action", choices=["check"])
    mapping.add_argument("--source", required=True, help="configured source name")
    mapping.add_argument("--sample", type=int, default=500, help="records to pull (default 500)")
    mapping.set_defaults(run=run_mapping)


def _source(args: argparse.Namespace):
    settings, registry, ledger = open_deployment(args)
    job = SyncJob(settings, registry, ledger, base_dir=base_dir(args))
    job.close()
    return job.open_source(args.source), ledger, job.evaluator.procedures


def run_mapping(args: argparse.Namespace) -> int:
    """List every vendor code of a sample that reaches no ISO step, with the dossiers it affects,
    and the mapping's unconfirmed notes; exit 1 unless records were sampled and all reach ISO steps."""
    source, ledger, procedures = _source(args)
    try:
        report = check_mapping(source, args.sample, procedures)
    except UnavailableError as exc:
        print(f"isobridge mapping check: source {args.source!r} cannot be read, nothing was checked:"
              f" {redact(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        source.close()
        ledger.close()
    print("category\tcode\tdossiers")
    for (category, code), count in report.codes.items():
        print(f"{category}\t{code}\t{count}")
    for note in report.notes:
        print(f"unconfirmed\t{note}")
    print(_summary(args, report), file=sys.stderr)
    return EXIT_OK if report.clear else EXIT_FAILED


def _summary(args: argparse.Namespace, report) -> str:
    """The closing line: never an all-clear for an empty sample; unconfirmed notes are counted."""
    if not report.sampled:
        return f"source {args.source!r} gave no records: nothing was checked (not an all-clear)"
    notes = f"; {len(report.notes)} unconfirmed note(s) to verify" if report.notes else ""
    return (f"{len(report.codes)} unmapped code(s) in a sample of {report.sampled} record(s) (up to"
            f" {args.sample}): vendor codes reaching no ISO step, ISO steps reached by none{notes}")


def run_procedures(args: argparse.Namespace) -> int:
    """Write one draft procedure TOML per vendor process, for the quality team to review."""
    source, ledger, _ = _source(args)
    try:
        if not isinstance(source, DraftsProcedures):
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
