"""`isobridge calendar show YEAR`: every day off and every worked weekend day, with its source."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..calendar import WorkingCalendar
from ..settings import load_settings

WEEKDAYS = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật")
KINDS = {"off": "nghỉ", "working": "làm việc"}


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register `calendar show`."""
    parser = commands.add_parser("calendar", help="show the working calendar's exceptions and their sources")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="days off and worked weekend days of a year, with sources")
    show.add_argument("year", type=int, help="the year to list")
    where = show.add_mutually_exclusive_group()
    where.add_argument("--calendar", type=Path, default=None, help="a calendar TOML file")
    where.add_argument("--config", type=Path, default=None, help="a deployment's settings (its [calendar] file)")
    show.set_defaults(run=run_show)


def run_show(args: argparse.Namespace) -> int:
    """Print one line per exception day: date, weekday, off or working, name, source."""
    calendar = _calendar(args)
    first, last = calendar.spec.years
    if not first <= args.year <= last:
        print(f"isobridge calendar: {args.year} is outside calendar {calendar.name!r} ({first}–{last})")
        return 1
    print(f"# {calendar.name} (phiên bản {calendar.version}), năm {args.year}")
    for day in calendar.exceptions_in(args.year):
        weekday = WEEKDAYS[day.day.weekday()]
        print(f"{day.day:%d/%m/%Y}  {weekday:<8}  {KINDS[day.kind]:<8}  {day.name}  [{day.source}]")
    return 0


def _calendar(args: argparse.Namespace) -> WorkingCalendar:
    if args.calendar is not None:
        return WorkingCalendar.from_file(args.calendar)
    return WorkingCalendar.from_file(load_settings(args.config).calendar.file)
