"""Which days are off and which weekend days are worked, and on whose word.

A calendar's exceptions come in three layers, each able to overrule the one before: public
holidays and make-up Saturdays from the `holidays` package (country "VN"); the bundled
public-sector days of ``data/vn-public-sector.toml`` (dispatches of the Government Office, and
package holidays no law in force makes a day off); the deployment's calendar file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from importlib.resources import files
from typing import Any, Iterable, Literal

import holidays as holiday_data

from .errors import ConfigurationError

DayKind = Literal["off", "working"]
BUNDLED = "data/vn-public-sector.toml"
"""The bundled public-sector layer, applied to calendars of country "VN" that extend it."""


@dataclass(frozen=True)
class CalendarDay:
    """One exception to the Monday-to-Friday rule: a day off or a worked weekend day."""

    day: date
    kind: DayKind
    name: str
    source: str


def exception_days(country: str, extends: bool, years: Iterable[int], days_off: Iterable[date],
                   working_days: Iterable[date], origin: str) -> dict[date, CalendarDay]:
    """Every exception day of a calendar, the later layers overruling the earlier ones."""
    days: dict[date, CalendarDay] = {}
    years = list(years)
    if country:
        days.update(_package_days(country, years))
    if country == "VN" and extends:
        _apply_bundled(days, years)
    for day in days_off:
        days[day] = CalendarDay(day, "off", "ngày nghỉ của địa phương", origin)
    for day in working_days:
        days[day] = CalendarDay(day, "working", "ngày làm việc của địa phương", origin)
    return days


def _package_days(country: str, years: list[int]) -> dict[date, CalendarDay]:
    try:
        language = "vi" if country == "VN" else None  # names in the field's language, whatever the locale
        public = holiday_data.country_holidays(country, years=years, language=language)
    except NotImplementedError:
        raise ConfigurationError(f"country {country!r} is unknown to `holidays`") from None
    source = f"holidays {holiday_data.__version__} ({country})"
    days = {day: CalendarDay(day, "off", name, source) for day, name in public.items()}
    span = range(years[0], years[-1] + 1) if years else range(0)
    for day in getattr(public, "weekend_workdays", ()):
        if day.year in span:
            days[day] = CalendarDay(day, "working", "ngày làm bù", source)
    return days


def _apply_bundled(days: dict[date, CalendarDay], years: list[int]) -> None:
    data = bundled_layer()
    for entry in data.get("ignore", []):
        for day, known in list(days.items()):
            if known.kind == "off" and entry["holiday"] in known.name.split("; "):
                days[day] = CalendarDay(day, "working", entry["name"], entry["source"])
    for entry in data.get("day", []):
        if entry["date"].year in years:
            days[entry["date"]] = CalendarDay(entry["date"], entry["kind"], entry["name"], entry["source"])


def bundled_layer() -> dict[str, Any]:
    """The bundled public-sector layer, parsed."""
    return tomllib.loads(files("isobridge.core").joinpath(BUNDLED).read_text(encoding="utf-8"))
