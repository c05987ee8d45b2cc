"""The Vietnamese working calendar and constant-time working-time arithmetic.

Working time is the sessions (default 07:30–11:30 and 13:00–17:00) of working days: Monday to
Friday that are neither public holidays (from the `holidays` package) nor listed `days_off`,
plus the listed make-up `working_days`. Times are Asia/Ho_Chi_Minh (UTC+7, no daylight saving).

The calendar precomputes, for every day of its range, how many working days come before it.
Working time elapsed up to an instant is then one lookup plus the day's session prefix, and the
instant at which an allowance is used up is one index into the list of working days: O(1),
never a walk over days.

The calendar is the one home of working-time arithmetic: :meth:`WorkingCalendar.allowance` turns a
limit (working days, working hours, calendar days) into an :class:`Allowance`, and
:meth:`WorkingCalendar.due` says when an allowance counted from an instant is used up. The engine
calls these (or `WorkingCalendar.due_from`, the same rule with the working time at the start and
the paused time already known); it holds no unit or due rule of its own.
"""

from __future__ import annotations

import hashlib
import tomllib
from array import array
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, NamedTuple, Protocol

from .calendar_days import CalendarDay, exception_days
from .errors import ConfigurationError

VN_TZ = timezone(timedelta(hours=7), "ICT")
"""Asia/Ho_Chi_Minh: a fixed UTC+7 offset (Vietnam has no daylight saving time)."""

DAY = 86_400
UTC_OFFSET = 7 * 3600
"""Seconds Vietnam time is ahead of UTC: `(instant + UTC_OFFSET) // DAY` is the local day number."""
_EPOCH_DATE = date(1970, 1, 1)
DEFAULT_SESSIONS = ("07:30-11:30", "13:00-17:00")
DEFAULT_YEARS = (2015, 2035)


class Tables(NamedTuple):
    """A calendar's lookup tables, for a loop that inlines :meth:`WorkingCalendar.worked` (the
    engine's step rows: a call costs more than the lookup it wraps). Dues are not inlined: they
    come from :meth:`WorkingCalendar.due_from`."""

    first_day: int
    """Day number (days since 1970-01-01, local) of the calendar's first day."""
    is_working: bytearray
    """1 for a working day, by day index (day number - first_day)."""
    base: array
    """Working seconds before each day, by day index."""
    elapsed: array
    """Working seconds of a working day elapsed at each second of the day."""
    working: list[int]
    """Day number of every working day, in order."""
    day_seconds: int
    """Working seconds in a working day."""
    due_tod: array
    """Second of the day at which `rest` (1..day_seconds) working seconds of a day are used up."""
    working_text: list[str]
    """'YYYY-MM-DD' of every working day, as `working`."""
    due_tod_text: list[str]
    """'THH:MM:SS+07:00' of every `due_tod` entry: a due's text is working_text[d] + due_tod_text[r]."""


WORKING, CALENDAR = "working", "calendar"
"""The two bases time is counted on: working time (sessions of working days) or calendar time."""


class LimitLike(Protocol):
    """What :meth:`WorkingCalendar.allowance` reads of a limit (`models.Limit` has it)."""

    value: float
    unit: str


@dataclass(frozen=True, slots=True)
class Allowance:
    """A limit resolved on one calendar: the amount of time it allows, on its basis.

    Built by :meth:`WorkingCalendar.allowance` (the one place a limit's unit becomes time).
    """

    working: int | None
    """Working seconds allowed (a `working_days` or `working_hours` limit), else None."""
    days: float | None
    """Calendar days allowed (a `calendar_days` limit), else None."""
    minutes: int
    """The allowance in minutes on its basis: working minutes, or calendar minutes (1440 a day)."""
    basis: str
    """What the allowance counts: "working" or "calendar" time (evidence's `time_basis`)."""

    @classmethod
    def of(cls, limit: LimitLike, calendar: "WorkingCalendar") -> "Allowance":
        """`calendar.allowance(limit)`, for callers holding the class."""
        return calendar.allowance(limit)


NOTHING = Allowance(0, None, 0, WORKING)
"""No working time at all (a due counted with it is the start, or the end of what was paused)."""


class CalendarError(ConfigurationError):
    """A calendar file is invalid or a date falls outside the calendar's range."""


def _parse_session(text: str) -> tuple[int, int]:
    try:
        start, end = (datetime.strptime(part.strip(), "%H:%M") for part in text.split("-"))
    except ValueError:
        raise CalendarError(f"session {text!r} is not 'HH:MM-HH:MM'") from None
    start_s, end_s = start.hour * 3600 + start.minute * 60, end.hour * 3600 + end.minute * 60
    if end_s <= start_s:
        raise CalendarError(f"session {text!r} ends before it starts")
    return start_s, end_s


def _day_number(day: date) -> int:
    return (day - _EPOCH_DATE).days


@dataclass(frozen=True)
class CalendarSpec:
    """The declarative content of a calendar file."""

    name: str = "VN"
    country: str = "VN"
    sessions: tuple[str, ...] = DEFAULT_SESSIONS
    days_off: tuple[date, ...] = ()
    working_days: tuple[date, ...] = ()
    years: tuple[int, int] = DEFAULT_YEARS
    extends_bundled: bool = True
    """Layer the bundled public-sector days (country "VN") under this calendar's own."""
    origin: str = "calendar"
    """Where the spec came from (a file's path), named as the source of its own days."""

    @classmethod
    def from_mapping(cls, data: dict[str, Any], origin: str = "calendar") -> "CalendarSpec":
        """Build a spec from parsed TOML, with errors naming the bad key."""
        known = {"name", "country", "sessions", "days_off", "working_days", "years", "extends_bundled"}
        unknown = set(data) - known
        if unknown:
            raise CalendarError(f"{origin}: unknown key(s) {sorted(unknown)}")
        try:
            years = tuple(data.get("years", DEFAULT_YEARS))
            spec = cls(
                name=str(data.get("name", "VN")),
                country=str(data.get("country", "VN") or ""),
                sessions=tuple(data.get("sessions", DEFAULT_SESSIONS)),
                days_off=tuple(_as_date(d, "days_off") for d in data.get("days_off", ())),
                working_days=tuple(_as_date(d, "working_days") for d in data.get("working_days", ())),
                years=(int(years[0]), int(years[1])),
                extends_bundled=_as_bool(data.get("extends_bundled", True), "extends_bundled"),
                origin=origin,
            )
        except (TypeError, ValueError, IndexError) as exc:
            raise CalendarError(f"{origin}: {exc}") from None
        return spec


def _as_bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{key}: expected true or false")
    return value


def _as_date(value: Any, key: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{key}: {value!r} is not a date (YYYY-MM-DD)") from None


@dataclass
class WorkingCalendar:
    """Working-time arithmetic over a precomputed day index (all instants are epoch seconds)."""

    spec: CalendarSpec = field(default_factory=CalendarSpec)

    def __post_init__(self) -> None:
        self.sessions = sorted(_parse_session(s) for s in self.spec.sessions)
        if not self.sessions:
            raise CalendarError("a calendar needs at least one session")
        for (_, end), (start, _) in zip(self.sessions, self.sessions[1:]):
            if start < end:
                raise CalendarError("sessions overlap")
        self.day_seconds = sum(end - start for start, end in self.sessions)
        self._build_index()

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | Path) -> "WorkingCalendar":
        """Load a calendar TOML file."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise CalendarError(f"{path}: {exc}") from None
        return cls(CalendarSpec.from_mapping(data, str(path)))

    def _build_index(self) -> None:
        first_year, last_year = self.spec.years
        if last_year < first_year:
            raise CalendarError("years: the last year is before the first")
        self.first_day = _day_number(date(first_year, 1, 1))
        self.last_day = _day_number(date(last_year, 12, 31))
        off, extra = self._exceptions(range(first_year, last_year + 1))
        is_working = bytearray(self.last_day - self.first_day + 1)
        cumulative = [0] * (len(is_working) + 1)
        working: list[int] = []
        for index in range(len(is_working)):
            day = _EPOCH_DATE + timedelta(days=self.first_day + index)
            workday = (day.weekday() < 5 and day not in off) or day in extra
            cumulative[index + 1] = cumulative[index] + workday
            if workday:
                is_working[index] = 1
                working.append(self.first_day + index)
        self._is_working, self._cumulative, self._working = is_working, cumulative, working
        self._off, self._extra = off, extra
        self._build_tables()

    def _build_tables(self) -> None:
        """Per-second lookup tables that turn the hot queries into a few indexings.

        They are compact arrays, not lists of int objects: a lookup at a random second of the day
        then touches one cache line, not a pointer and an object far apart (measurably faster).
        """
        self._base = array("q", [count * self.day_seconds for count in self._cumulative])
        # Working seconds of a working day elapsed at each second of the day.
        self._elapsed = array("i", [self._within(tod) for tod in range(DAY + 1)])
        # Second of the day at which `rest` (1..day_seconds) working seconds are used up.
        by_rest = [self.sessions[0][0]]
        for start, end in self.sessions:
            by_rest.extend(range(start + 1, end + 1))
        self._due_tod = array("i", by_rest)
        self._working_text = [(_EPOCH_DATE + timedelta(days=day)).isoformat() for day in self._working]
        self._due_tod_text = [f"T{tod // 3600:02d}:{tod // 60 % 60:02d}:{tod % 60:02d}+07:00"
                              for tod in self._due_tod]
        self.due_from = self._due_function()

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without `due_from` (a closure); :meth:`__setstate__` builds it again."""
        return {name: value for name, value in self.__dict__.items() if name != "due_from"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.due_from = self._due_function()

    def tables(self) -> Tables:
        """The lookup tables behind the working-time arithmetic."""
        return Tables(self.first_day, self._is_working, self._base, self._elapsed, self._working,
                      self.day_seconds, self._due_tod, self._working_text, self._due_tod_text)

    def _exceptions(self, years: Iterable[int]) -> tuple[set[date], set[date]]:
        spec = self.spec
        try:
            self.days = exception_days(spec.country, spec.extends_bundled, years, spec.days_off,
                                       spec.working_days, spec.origin)
        except ConfigurationError as exc:
            raise CalendarError(str(exc)) from None
        off = {day for day, known in self.days.items() if known.kind == "off"}
        return off, set(self.days) - off

    def exceptions_in(self, year: int) -> list[CalendarDay]:
        """The year's days off and worked weekend days, in date order, each with its source."""
        return [known for day, known in sorted(self.days.items()) if day.year == year]

    @property
    def version(self) -> str:
        """A short hash of everything that decides working time (for evidence provenance)."""
        text = repr((self.spec.sessions, self.spec.years, sorted(self._off), sorted(self._extra)))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def name(self) -> str:
        """The calendar's name."""
        return self.spec.name

    # -- day queries --------------------------------------------------------------------------
    def _index(self, day: int) -> int:
        index = day - self.first_day
        if not 0 <= index < len(self._is_working):
            shown = _EPOCH_DATE + timedelta(days=day)
            raise CalendarError(
                f"{shown} is outside calendar {self.name!r} ({self.spec.years[0]}–{self.spec.years[1]});"
                " extend `years` in the calendar file"
            )
        return index

    def is_working_day(self, day: date) -> bool:
        """True when `day` is a working day."""
        return bool(self._is_working[self._index(_day_number(day))])

    # -- working-time arithmetic (epoch seconds) --------------------------------------------
    def _within(self, tod: int) -> int:
        worked = 0
        for start, end in self.sessions:
            if tod <= start:
                break
            worked += (tod if tod < end else end) - start
        return worked

    def worked(self, instant: int) -> int:
        """Working seconds from the start of the calendar up to `instant` (monotonic)."""
        local = instant + UTC_OFFSET
        index = local // DAY - self.first_day
        if index < 0 or index >= len(self._is_working):
            self._index(local // DAY)
        if self._is_working[index]:
            return self._base[index] + self._elapsed[local % DAY]
        return self._base[index]

    def instant_at(self, worked: int) -> int:
        """The earliest instant by which `worked` working seconds have elapsed.

        An amount that ends exactly at a session's end falls due at that session's end.
        """
        if worked <= 0:
            return (self._working[0] * DAY + self.sessions[0][0]) - UTC_OFFSET
        return self.due_from(0, 0, NOTHING, worked)[0]  # nothing allowed from the calendar's start, `worked` paused

    def add(self, instant: int, seconds: int) -> int:
        """The instant at which `seconds` of working time counted from `instant` are used up."""
        if seconds <= 0:
            return instant
        return self.instant_at(self.worked(instant) + seconds)

    def between(self, start: int, end: int) -> int:
        """Working seconds between two instants (negative when `end` is before `start`)."""
        return self.worked(end) - self.worked(start)

    def add_calendar_days(self, instant: int, days: float) -> int:
        """Add calendar days; a due date on a non-working day rolls to the end of the next one."""
        due = instant + int(days * DAY)
        index = self._index((due + UTC_OFFSET) // DAY)
        if self._is_working[index]:
            return due
        next_index = self._cumulative[index]
        if next_index >= len(self._working):
            raise CalendarError(f"calendar {self.name!r} ends before the due date; extend `years`")
        return self._working[next_index] * DAY + self.sessions[-1][1] - UTC_OFFSET

    def working_seconds(self, value: float, unit: str) -> int:
        """Working seconds of a limit in `working_days` or `working_hours` (the unit rules)."""
        if unit == "working_days":
            return round(value * self.day_seconds)
        if unit == "working_hours":
            return round(value * 3600)
        raise CalendarError(f"unit {unit!r} is not a working-time unit")

    # -- allowances and dues: the one definition per limit unit ------------------------------
    def allowance(self, limit: LimitLike) -> Allowance:
        """Resolve a limit (`value` in `unit`) into the time it allows on this calendar."""
        if limit.unit == "calendar_days":
            return Allowance(None, limit.value, round(limit.value * 1440), CALENDAR)
        seconds = self.working_seconds(limit.value, limit.unit)
        return Allowance(seconds, None, seconds // 60, WORKING)

    def paused(self, allowance: Allowance, pauses: Iterable[tuple[int, int]]) -> int:
        """Time within `pauses` ((start, end) instants) on the allowance's basis: working seconds
        for a working-time allowance, else seconds."""
        if allowance.working is None:
            return sum(max(0, end - start) for start, end in pauses)
        return sum(max(0, self.between(start, end)) for start, end in pauses)

    def due(self, start: int, allowance: Allowance, pauses: Iterable[tuple[int, int]] = ()) -> tuple[int, str]:
        """When `allowance` counted from `start` is used up, time in `pauses` not counted; with its text.

        Working time: the instant the allowance plus the paused working time are used up (a
        zero allowance is due at once). Calendar days: the days added, rolled to the end of the
        next working day when they land on a day off, then moved by the paused seconds.
        """
        start_worked = self.worked(start) if allowance.working is not None else 0
        return self.due_from(start, start_worked, allowance, self.paused(allowance, pauses))[:2]

    def _due_function(self) -> Callable[[int, int, Allowance, int], tuple[int, str, int]]:
        """The calendar's `due_from`: a closure over its tables (read faster than attributes, and
        the engine calls it once per step row)."""
        day_seconds, working_count, add_calendar_days = self.day_seconds, len(self._working), self.add_calendar_days
        working_days, working_text = self._working, self._working_text
        # indexed by `rest` - 1: the second of the day at which the last of a day's `rest` seconds is used
        last_tod, last_tod_text = self._due_tod[1:], self._due_tod_text[1:]

        def due_from(start: int, start_worked: int, allowance: Allowance, paused: int) -> tuple[int, str, int]:
            """:meth:`due` with `start_worked` = worked(start) and `paused` (measured as :meth:`paused`
            does) known already, as (instant, text, local day number) — the engine judges by days."""
            working = allowance.working
            if working is None:
                due = add_calendar_days(start, allowance.days) + paused  # type: ignore[arg-type]
                return due, format_instant(due), (due + UTC_OFFSET) // DAY
            total = working + paused
            if total <= 0:
                return start, format_instant(start), (start + UTC_OFFSET) // DAY
            full_days, rest = divmod(start_worked + total - 1, day_seconds)
            if full_days < working_count:  # the day and second at which the time is used up
                day = working_days[full_days]
                return day * DAY + last_tod[rest] - UTC_OFFSET, working_text[full_days] + last_tod_text[rest], day
            raise CalendarError(f"calendar {self.name!r} ends before the due date; extend `years`")

        return due_from

    def moved(self, due: int, allowance: Allowance, paused: int) -> int:
        """A due (an appointment) moved later by `paused` time on the allowance's basis."""
        if allowance.working is None:
            return due + paused
        return self.add(due, paused)


def local_date(instant: int) -> int:
    """The Vietnam-local day number of an instant (days since 1970-01-01)."""
    return (instant + UTC_OFFSET) // DAY


_HOUR_TEXT: dict[int, str] = {}
_SECOND_TEXT = [f":{m:02d}:{s:02d}+07:00" for m in range(60) for s in range(60)]


def format_instant(instant: int) -> str:
    """ISO 8601 text of an instant in Vietnam time, e.g. '2025-03-05T15:40:00+07:00'."""
    hour, second = divmod(instant + UTC_OFFSET, 3600)
    text = _HOUR_TEXT.get(hour)
    if text is None:
        text = datetime.fromtimestamp(hour * 3600 - UTC_OFFSET, VN_TZ).isoformat()[:13]
        if len(_HOUR_TEXT) < 500_000:
            _HOUR_TEXT[hour] = text
    return text + _SECOND_TEXT[second]
