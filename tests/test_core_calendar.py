"""Working calendar: hand-computed dues across Tết, make-up days, lunch, after hours; properties."""

from __future__ import annotations

from datetime import date, timedelta

import holidays
import pytest
from hypothesis import given, settings, strategies as st

from conftest import at
from isobridge.core.calendar import (
    DAY, CalendarError, CalendarSpec, WorkingCalendar, format_instant, local_date,
)
from isobridge.core.calendar_days import bundled_layer
from isobridge.core.models import Limit, LimitUnit

H = 3600
WD = 8 * H


# -- what the holidays package says (the calendar's source of truth) ----------------------------
def test_tet_2025_and_2026_holidays_come_from_the_package():
    vn = holidays.country_holidays("VN", years=[2025, 2026])
    assert sorted(d for d in vn if date(2025, 1, 27) <= d <= date(2025, 2, 1)) == [
        date(2025, 1, 27) + timedelta(days=i) for i in range(6)
    ]
    assert all(date(2026, 2, 16) + timedelta(days=i) in vn for i in range(5))
    assert date(2025, 4, 26) in vn.weekend_workdays  # make-up Saturday for Friday 2 May 2025
    assert date(2025, 5, 2) in vn


@pytest.mark.parametrize(
    "day, working",
    [
        ("2025-01-24", True), ("2025-01-27", False), ("2025-01-31", False), ("2025-02-03", True),
        ("2026-02-13", True), ("2026-02-16", False), ("2026-02-20", False), ("2026-02-23", True),
        ("2025-04-26", True), ("2025-04-27", False), ("2025-05-02", False), ("2025-03-08", False),
    ],
)
def test_working_days(vn_calendar, day, working):
    assert vn_calendar.is_working_day(date.fromisoformat(day)) is working


# -- hand-computed dues ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "start, allowance, due",
    [
        # Tết 2025: Fri 16:00 + 1 day = 1 h on Friday, then 7 h on Mon 3 Feb (Tết is 27 Jan–1 Feb).
        ("2025-01-24 16:00", WD, "2025-02-03 16:00"),
        # Tết 2026: Fri 13 Feb 10:00 + 2 days = 5.5 h + Mon 23 Feb 8 h + 2.5 h on Tue 24 Feb.
        ("2026-02-13 10:00", 2 * WD, "2026-02-24 10:00"),
        # Make-up Saturday 26 Apr 2025 counts: Fri 15:00 + 1 day = 2 h Friday + 6 h Saturday.
        ("2025-04-25 15:00", WD, "2025-04-26 15:00"),
        # 30/4, 1/5 and the substituted Friday 2/5: Tue 29 Apr 09:00 + 2 days lands on Tue 6 May.
        ("2025-04-29 09:00", 2 * WD, "2025-05-06 09:00"),
        # Lunch break: 11:00 + 1 h = 30 min before lunch, 30 min after.
        ("2025-03-05 11:00", H, "2025-03-05 13:30"),
        # Received during lunch: the clock starts at 13:00.
        ("2025-03-05 12:00", H, "2025-03-05 14:00"),
        # After hours: the clock starts next morning; 4 h end exactly at 11:30, due then (not 13:00).
        ("2025-03-05 18:30", 4 * H, "2025-03-06 11:30"),
        # Weekend receipt: Saturday 09:00 + 1 day ends exactly at Monday's 17:00.
        ("2025-03-08 09:00", WD, "2025-03-10 17:00"),
        # An allowance ending at 17:00 is due at 17:00 that day, not the next morning.
        ("2025-03-05 13:00", 4 * H, "2025-03-05 17:00"),
        # Before the first session: 06:00 + 30 min = 08:00.
        ("2025-03-05 06:00", 30 * 60, "2025-03-05 08:00"),
    ],
)
def test_add_hand_computed(vn_calendar, start, allowance, due):
    assert vn_calendar.add(at(start), allowance) == at(due)
    assert vn_calendar.between(at(start), at(due)) == allowance


def test_zero_allowance_is_due_at_once(vn_calendar):
    assert vn_calendar.add(at("2025-03-08 09:00"), 0) == at("2025-03-08 09:00")


@pytest.mark.parametrize(
    "start, end, hours",
    [
        ("2025-03-05 11:00", "2025-03-05 14:00", 1.5),  # lunch does not count
        ("2025-03-07 16:00", "2025-03-10 08:30", 2),  # weekend does not count
        ("2025-01-24 07:00", "2025-02-03 07:30", 8),  # Tết: only Friday 24 Jan counts
        ("2025-03-05 20:00", "2025-03-05 23:00", 0),
        ("2025-03-05 14:00", "2025-03-05 11:00", -1.5),  # negative when reversed
    ],
)
def test_between_hand_computed(vn_calendar, start, end, hours):
    assert vn_calendar.between(at(start), at(end)) == hours * H


def test_working_days_override_and_days_off():
    base = dict(name="local", years=(2025, 2027), extends_bundled=False)
    plain = WorkingCalendar(CalendarSpec(**base))
    local = WorkingCalendar(CalendarSpec(**base, days_off=(date(2026, 1, 2),), working_days=(date(2026, 1, 10),)))
    # Saturday 10 Jan 2026 declared a working day: Fri 16:00 + 1 day = Sat 16:00 (else Mon 16:00).
    assert plain.add(at("2026-01-09 16:00"), WD) == at("2026-01-12 16:00")
    assert local.add(at("2026-01-09 16:00"), WD) == at("2026-01-10 16:00")
    # Friday 2 Jan 2026 declared off: Wed 31 Dec 16:00 + 1 day skips 1 Jan (holiday), 2 Jan, weekend.
    assert plain.add(at("2025-12-31 16:00"), WD) == at("2026-01-02 16:00")
    assert local.add(at("2025-12-31 16:00"), WD) == at("2026-01-05 16:00")
    assert plain.version != local.version
    assert WorkingCalendar(CalendarSpec(**base)).version == plain.version


def test_custom_sessions_and_no_country():
    cal = WorkingCalendar(CalendarSpec(country="", sessions=("08:00-12:00",), years=(2025, 2025)))
    assert cal.day_seconds == 4 * H
    assert cal.is_working_day(date(2025, 1, 29))  # no public holidays without a country
    assert cal.add(at("2025-03-05 11:00"), 2 * H) == at("2025-03-06 09:00")
    assert cal.working_seconds(1, "working_days") == 4 * H


@pytest.mark.parametrize(
    "start, days, due",
    [
        ("2025-03-03 10:00", 10, "2025-03-13 10:00"),  # lands on a working day: as is
        ("2025-01-20 10:00", 10, "2025-02-03 17:00"),  # lands in Tết: end of the next working day
        ("2025-03-05 10:00", 3, "2025-03-10 17:00"),  # lands on Saturday: Monday's end
        ("2025-04-21 10:00", 5, "2025-04-26 10:00"),  # lands on the make-up Saturday: as is
    ],
)
def test_calendar_days_roll_forward(vn_calendar, start, days, due):
    assert vn_calendar.add_calendar_days(at(start), days) == at(due)


def test_outside_the_calendar_range_is_an_error(vn_calendar):
    with pytest.raises(CalendarError, match="outside calendar"):
        vn_calendar.worked(at("2030-01-02 08:00"))
    with pytest.raises(CalendarError, match="extend `years`"):
        vn_calendar.add(at("2027-12-30 08:00"), 5 * WD)


def test_from_file_and_bad_files(tmp_path):
    good = tmp_path / "cal.toml"
    good.write_text('name = "Đà Nẵng"\ncountry = "VN"\nworking_days = ["2026-01-10"]\nyears = [2025, 2026]\n')
    cal = WorkingCalendar.from_file(good)
    assert cal.name == "Đà Nẵng" and cal.is_working_day(date(2026, 1, 10))
    for text, message in [
        ('sessions = ["17:00-07:30"]', "ends before it starts"),
        ('sessions = ["07:30-11:30", "11:00-17:00"]', "overlap"),
        ('days_off = ["2025-13-01"]', "is not a date"),
        ('colour = "red"', "unknown key"),
        ('country = "XX"', "unknown to `holidays`"),
    ]:
        bad = tmp_path / "bad.toml"
        bad.write_text(text + "\nyears = [2025, 2025]\n")
        with pytest.raises(CalendarError, match=message):
            WorkingCalendar.from_file(bad)


def test_format_and_local_date():
    instant = at("2025-03-05 15:40")
    assert format_instant(instant) == "2025-03-05T15:40:00+07:00"
    assert local_date(at("2025-03-05 23:59")) == local_date(at("2025-03-05 00:00")) == (date(2025, 3, 5) - date(1970, 1, 1)).days


# -- properties ------------------------------------------------------------------------------------
# Minute-aligned instants from Dec 2024 to Nov 2026 (covering both Tết holidays and 26 Apr 2025).
FIRST, LAST = at("2024-12-01 00:00"), at("2026-11-30 00:00")
instants = st.integers(FIRST // 60, LAST // 60).map(lambda m: m * 60)
allowances = st.integers(1, 5 * 8 * 60).map(lambda m: m * 60)


def _in_session(cal: WorkingCalendar, instant: int) -> bool:
    """True when `instant` is inside a session (its end included) of a working day."""
    local = instant + 7 * H
    day = date(1970, 1, 1) + timedelta(days=local // DAY)
    tod = local % DAY
    return cal.is_working_day(day) and any(start < tod <= end for start, end in cal.sessions)


@settings(max_examples=300, deadline=None)
@given(instants, allowances)
def test_add_then_measure_returns_the_allowance(vn_calendar, start, allowance):
    assert vn_calendar.between(start, vn_calendar.add(start, allowance)) == allowance


@settings(max_examples=300, deadline=None)
@given(instants, allowances)
def test_due_is_never_in_non_working_time(vn_calendar, start, allowance):
    due = vn_calendar.add(start, allowance)
    assert due > start
    assert _in_session(vn_calendar, due)


@settings(max_examples=300, deadline=None)
@given(instants, instants, allowances, allowances)
def test_add_is_monotonic(vn_calendar, s1, s2, a1, a2):
    s1, s2 = sorted((s1, s2))
    a1, a2 = sorted((a1, a2))
    assert vn_calendar.add(s1, a1) <= vn_calendar.add(s2, a1)
    assert vn_calendar.add(s1, a1) <= vn_calendar.add(s1, a2)
    assert vn_calendar.worked(s1) <= vn_calendar.worked(s2)


limits = st.one_of(
    st.builds(Limit, value=st.integers(0, 12).map(lambda n: n / 2), unit=st.just(LimitUnit.working_days)),
    st.builds(Limit, value=st.integers(0, 24), unit=st.just(LimitUnit.working_hours)),
    st.builds(Limit, value=st.integers(0, 20).map(lambda n: n / 2), unit=st.just(LimitUnit.calendar_days)),
)
pause_lists = st.lists(st.tuples(instants, st.integers(0, 3 * DAY // 60).map(lambda m: m * 60)), max_size=3)


@settings(max_examples=300, deadline=None)
@given(instants, limits, pause_lists)
def test_due_is_the_allowance_counted_on_its_basis(vn_calendar, start, limit, spans):
    """One definition: a working-time due is `add` of the allowance plus the paused working time
    (measured with `between`); a calendar-day due is `add_calendar_days` plus the paused seconds."""
    cal = vn_calendar
    pauses = [(low, low + length) for low, length in spans]
    allowance = cal.allowance(limit)
    due, text = cal.due(start, allowance, pauses)
    assert text == format_instant(due)
    if limit.unit is LimitUnit.calendar_days:
        assert (allowance.days, allowance.basis, allowance.minutes) == (limit.value, "calendar", round(limit.value * 1440))
        assert due == cal.add_calendar_days(start, limit.value) + sum(high - low for low, high in pauses)
    else:
        per_unit = WD if limit.unit is LimitUnit.working_days else H
        assert (allowance.working, allowance.basis) == (round(limit.value * per_unit), "working")
        assert allowance.minutes == allowance.working // 60
        assert due == cal.add(start, allowance.working + sum(cal.between(low, high) for low, high in pauses))
    paused = cal.paused(allowance, pauses)
    assert cal.due_from(start, cal.worked(start), allowance, paused) == (due, text, local_date(due))
    assert cal.moved(cal.due(start, allowance)[0], allowance, paused) == due


def test_a_unit_rule_is_one_change_in_one_place():
    """A rule such as "half a day is one session (buổi)" is an override of `working_seconds`: the
    allowance, its minutes and its due all follow (sessions here are 4 h and 3 h)."""

    class SessionCalendar(WorkingCalendar):
        def working_seconds(self, value: float, unit: str) -> int:
            if unit == "working_days" and value % 1 == 0.5:
                whole = int(value) * self.day_seconds
                return whole + self.sessions[0][1] - self.sessions[0][0]
            return super().working_seconds(value, unit)

    spec = CalendarSpec(country="", sessions=("07:00-11:00", "13:00-16:00"), years=(2025, 2025))
    plain, by_session = WorkingCalendar(spec), SessionCalendar(spec)
    half = Limit(value=0.5, unit=LimitUnit.working_days)
    assert plain.allowance(half).minutes == 210 and by_session.allowance(half).minutes == 240
    start = at("2025-03-05 07:00")
    assert plain.due(start, plain.allowance(half))[1] == "2025-03-05T10:30:00+07:00"
    assert by_session.due(start, by_session.allowance(half))[1] == "2025-03-05T11:00:00+07:00"


def test_zero_allowance_with_nothing_paused_is_due_at_the_start(vn_calendar):
    after_hours = at("2025-03-05 19:00")
    nothing = vn_calendar.allowance(Limit(value=0, unit=LimitUnit.working_hours))
    assert vn_calendar.due(after_hours, nothing) == (after_hours, format_instant(after_hours))
    paused = [(at("2025-03-06 08:00"), at("2025-03-06 09:00"))]
    assert vn_calendar.due(after_hours, nothing, paused)[1] == "2025-03-06T08:30:00+07:00"


def _naive_working_minute(minute_start: int, off: set[date], extra: set[date]) -> bool:
    """Walking oracle: is the minute starting at this instant working time? (no index involved)"""
    local = minute_start + 7 * H
    day = date(1970, 1, 1) + timedelta(days=local // DAY)
    if not ((day.weekday() < 5 and day not in off) or day in extra):
        return False
    tod = local % DAY
    return 7 * H + 30 * 60 <= tod < 11 * H + 30 * 60 or 13 * H <= tod < 17 * H


def _naive_add(start: int, allowance: int, off: set[date], extra: set[date]) -> int:
    minute, left = start, allowance // 60
    while left:
        if _naive_working_minute(minute, off, extra):
            left -= 1
        minute += 60
    return minute


@pytest.fixture(scope="module")
def oracle_days() -> tuple[set[date], set[date]]:
    """The package's days, with the bundled public-sector layer applied by hand (read from its file)."""
    vn = holidays.country_holidays("VN", years=range(2024, 2028), language="vi")
    off, extra = set(vn), set(vn.weekend_workdays)
    layer = bundled_layer()
    ignored = {entry["holiday"] for entry in layer["ignore"]}
    off -= {day for day, name in vn.items() if name in ignored}
    for entry in layer["day"]:
        (off if entry["kind"] == "off" else extra).add(entry["date"])
        (extra if entry["kind"] == "off" else off).discard(entry["date"])
    return off, extra


@settings(max_examples=150, deadline=None)
@given(start=instants, allowance=st.integers(1, 3 * 8 * 60).map(lambda m: m * 60))
def test_arithmetic_matches_a_minute_walking_oracle(vn_calendar, oracle_days, start, allowance):
    off, extra = oracle_days
    due = _naive_add(start, allowance, off, extra)
    assert vn_calendar.add(start, allowance) == due
    span = due - start
    if span <= 20 * DAY:
        walked = sum(_naive_working_minute(start + m * 60, off, extra) for m in range(span // 60)) * 60
        assert vn_calendar.between(start, due) == walked == allowance


def test_a_calendar_pickles_with_its_due_function(vn_calendar):
    """`due_from` is a closure over the tables: a pickled calendar (a worker's copy) builds it again."""
    import pickle

    copy = pickle.loads(pickle.dumps(vn_calendar))
    allowance = vn_calendar.allowance(Limit(value=1.5, unit=LimitUnit.working_days))
    start = at("2025-01-24 15:00")  # 2 h on Friday, Tết, 8 h on Monday 3 February, 2 h on Tuesday
    assert copy.due(start, allowance) == vn_calendar.due(start, allowance) == (at("2025-02-04 09:30"), "2025-02-04T09:30:00+07:00")
