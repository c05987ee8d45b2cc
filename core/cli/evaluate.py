"""`isobridge evaluate`: case-log JSON Lines in, evidence JSON Lines out."""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from pathlib import Path

from ..batch import RejectSink, evaluate_file, evaluate_stream
from ..calendar import WorkingCalendar
from ..engine import Evaluator
from ..procedures import ProcedureBook
from .. import samples


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register the command."""
    parser = commands.add_parser("evaluate", help="evaluate a case log into conformity evidence")
    parser.add_argument("cases", help="case-log JSON Lines file, '-' for stdin")
    parser.add_argument("--procedures", default=str(samples.PROCEDURES), help="folder of procedure TOML files")
    parser.add_argument("--calendar", default=str(samples.CALENDAR), help="working calendar TOML file")
    parser.add_argument("--as-of", type=parse_as_of, default=None, help="instant for open dossiers (ISO 8601, default now)")
    parser.add_argument("--out", default="-", help="evidence file, '-' for stdout (default)")
    parser.add_argument("--rejects", default=None, help="rejects file (default: next to --out, or ./rejects.jsonl)")
    parser.add_argument("--workers", type=int, default=None, help="processes to use (default: one per core this process may run on)")
    parser.set_defaults(run=run)


def parse_as_of(text: str) -> int:
    """Epoch seconds of an ISO 8601 instant with offset."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a UTC offset, e.g. 2026-01-01T00:00:00+07:00")
    return int(moment.timestamp())


def _rejects_path(args: argparse.Namespace) -> Path:
    if args.rejects:
        return Path(args.rejects)
    if args.out != "-":
        return Path(args.out).with_suffix(".rejects.jsonl")
    return Path("rejects.jsonl")


def run(args: argparse.Namespace) -> int:
    """Evaluate; exit 0 when every line was evaluated, 3 when some were rejected."""
    evaluator = Evaluator(ProcedureBook.from_dir(args.procedures), WorkingCalendar.from_file(args.calendar))
    if args.as_of is not None:
        evaluator.as_of = args.as_of
    rejects = RejectSink(_rejects_path(args))
    from_file = args.cases != "-" and Path(args.cases).is_file()
    source = sys.stdin.buffer if args.cases == "-" else None if from_file else open(args.cases, "rb")
    target = sys.stdout.buffer if args.out == "-" else open(args.out, "wb")
    started = time.perf_counter()
    try:
        if from_file:
            totals = evaluate_file(evaluator, args.cases, target, rejects, args.workers)
        else:
            totals = evaluate_stream(evaluator, source, target, rejects, args.workers)
    except BrokenProcessPool:
        print("isobridge evaluate: a worker process died (killed, or out of memory); the output is"
              " incomplete", file=sys.stderr)
        return 1
    finally:
        rejects.close()
        if source is not None and source is not sys.stdin.buffer:
            source.close()
        if target is not sys.stdout.buffer:
            target.close()
        else:
            target.flush()
    elapsed = time.perf_counter() - started
    summary = totals.summary
    rate = summary.on_time_rate
    print(
        f"evaluated {summary.dossiers} dossiers ({totals.events} events) in {elapsed:.2f} s;"
        f" early {summary.early}, on time {summary.on_time}, late {summary.late},"
        f" open {summary.open_on_time}, overdue {summary.open_overdue}, paused {summary.paused},"
        f" refused {summary.refused}, withdrawn {summary.withdrawn}, stopped {summary.stopped};"
        f" on-time rate {'n/a' if rate is None else f'{rate:.2%}'}; rejected {totals.rejects}"
        + (f" (see {rejects.path})" if totals.rejects else ""),
        file=sys.stderr,
    )
    return 3 if totals.rejects else 0
