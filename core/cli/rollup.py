"""`isobridge report --rollup`: the province's view over several agencies (ledgers or evidence files)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..ledger import Ledger
from ..procedures import ProcedureBook
from ..report.aggregate import Period
from ..report.agencies import CountingRules
from ..report.audit import draw_seed
from ..report.objectives import Objectives
from ..report.rollup import EVIDENCE, LEDGER, Rollup, SourceInput, agency_coverage_rates, later
from ..report.rollup_page import RollupResult, write_rollup
from ..report.rollup_rank import previous_period
from ..report.source import latest_revisions, read_evidence
from ..settings import Settings
from .audit import seed_number
from .common import EXIT_USAGE, open_ledger, open_settings

FINISHED_RUNS = ("ok", "quarantined")
"""Run outcomes that read their sources to the end."""


def _share(text: str) -> float:
    try:
        value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a share from 0 to 1 (or 0% to 100%)")
    return value


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number ≥ 0")
    return int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The roll-up's options of `isobridge report`."""
    group = parser.add_argument_group("roll-up over several agencies (--rollup)")
    group.add_argument("--rollup", action="store_true",
                       help="the province's view: every agency of the inputs ranked, the units to inspect directly;"
                            " --config or --evidence may be given several times (every agency counted by the first"
                            " --config's counting rules and the options)")
    group.add_argument("--compare", choices=("previous",), default=None,
                       help="also the previous period (as long as --from/--to: a quarter, a year) and the change")
    group.add_argument("--seed", type=seed_number, default=None,
                       help="seed of the inspection draw (default: a new one, printed on the report)")
    group.add_argument("--inspect-weakest", type=_count, default=3, metavar="N",
                       help="the last N of the ranking are always proposed for inspection (default 3)")
    group.add_argument("--inspect-share", type=_share, default=0.2, metavar="SHARE",
                       help="share of the other agencies drawn at random for inspection (default 0.2, rounded up)")


def last_syncs(ledger: Ledger, settings: Settings | None) -> dict[str, str | None]:
    """Each source's last sync (local ISO): the later of its checkpoint's last move and the end of
    the last finished run that read it; None for a configured source never synced."""
    synced: dict[str, str | None] = {name: None for name in (settings.sources if settings else ())}
    for source, _, updated in ledger.checkpoints():
        synced[source] = later(synced.get(source), updated)
    for row in ledger.runs(limit=1000):
        finished, sources, outcome = row[2], row[3], row[4]
        if finished and outcome in FINISHED_RUNS:
            for name in filter(None, (sources or "").split(",")):
                synced[name] = later(synced.get(name), finished)
    return synced


def add_ledger(rollup: Rollup, settings: Settings, args: argparse.Namespace | None = None) -> None:
    """One deployment's ledger into the roll-up: counts, coverage and sources in one pass."""
    book = ProcedureBook.from_dir(settings.procedures.dir)
    ledger = open_ledger(settings.ledger, args)
    try:
        source = SourceInput(ledger.where, LEDGER, last_syncs(ledger, settings))
        rollup.inputs.append(source)
        found = agency_coverage_rates(rollup.feed_records(ledger.iter_records(), source), book, rollup.periods)
        rollup.add_coverage(found, source)
    finally:
        ledger.close()


def add_evidence(rollup: Rollup, path: str, all_lines: bool = False) -> None:
    """One evidence file into the roll-up (only each dossier's last line unless `all_lines`)."""
    source = SourceInput(path, EVIDENCE)
    rollup.inputs.append(source)
    for where, record in (read_evidence if all_lines else latest_revisions)(path, rollup.reject):
        rollup.add(record, source, where)


def run(args: argparse.Namespace, rules: CountingRules) -> int:
    """Write the roll-up; exit 3 when some evidence could not be used."""
    if args.agency is not None:
        print("isobridge report: --rollup covers every agency; leave out --agency", file=sys.stderr)
        return EXIT_USAGE
    period = Period(args.start, args.end)
    rollup = Rollup([period] + ([previous_period(period)] if args.compare else []), rules)
    for config in args.config or ():
        add_ledger(rollup, open_settings(config, args), args)
    for path in args.evidence or ():
        add_evidence(rollup, path, args.all_lines)
    seed = draw_seed() if args.seed is None else args.seed
    objectives = Objectives.from_file(args.objectives) if args.objectives else None
    result = write_rollup(rollup, args.out, objectives, seed, args.inspect_weakest, args.inspect_share)
    say(result, rollup)
    return 3 if rollup.rejected else 0


def say(result: RollupResult, rollup: Rollup) -> None:
    """The one-paragraph summary on stderr."""
    proposed = result.inspection.weakest + result.inspection.drawn
    print(f"roll-up {result.html} (table {result.csv.name}): {len(result.ranked)} agencies from"
          f" {len(rollup.inputs)} inputs, seed {result.inspection.seed}, proposed for inspection:"
          f" {', '.join(proposed) or 'none'}; unusable records {rollup.rejected}", file=sys.stderr)
    for line in rollup.rejections:
        print(f"  {line}", file=sys.stderr)


DEMO_PERIOD = Period("2026-07-01", "2026-09-30")
"""The demo roll-up's period: the third quarter of 2026 of the sample data (compared with the second)."""


def demo_rollup(settings: Settings, folder: Path, seed: int, period: Period = DEMO_PERIOD) -> Path:
    """The demo's roll-up from its ledger, compared with the previous period (`isobridge demo`)."""
    rollup = Rollup([period, previous_period(period)], settings.documents.counting)
    add_ledger(rollup, settings)
    return write_rollup(rollup, folder / "rollup.html", None, seed, weakest=1).html
