"""The calendar's layers: the `holidays` package, the bundled public-sector days, the deployment's file."""

from __future__ import annotations

from datetime import date

from isobridge.core.calendar import CalendarSpec, WorkingCalendar
from isobridge.core.cli import main


def calendar_file(tmp_path, text: str) -> WorkingCalendar:
    path = tmp_path / "province.toml"
    path.write_text(text + "\nyears = [2025, 2027]\n", encoding="utf-8")
    return WorkingCalendar.from_file(path)


def test_a_file_saying_only_country_vn_keeps_the_national_swaps(tmp_path):
    calendar = calendar_file(tmp_path, 'country = "VN"')
    assert not calendar.is_working_day(date(2026, 1, 2))  # dispatch 12729/VPCP-KGVX
    assert calendar.is_working_day(date(2026, 1, 10))  # its make-up Saturday
    (swap,) = [day for day in calendar.exceptions_in(2026) if day.day == date(2026, 1, 2)]
    assert "12729/VPCP-KGVX" in swap.source


def test_the_file_can_add_or_remove_any_day(tmp_path):
    calendar = calendar_file(tmp_path, 'country = "VN"\ndays_off = ["2026-11-24", "2026-03-02"]\n'
                                       'working_days = ["2026-01-02"]')
    assert not calendar.is_working_day(date(2026, 11, 24))
    assert not calendar.is_working_day(date(2026, 3, 2))
    assert calendar.is_working_day(date(2026, 1, 2))
    sources = {day.day: day.source for day in calendar.exceptions_in(2026)}
    assert sources[date(2026, 3, 2)].endswith("province.toml")


def test_culture_day_is_worked_until_the_labour_code_makes_it_a_day_off():
    calendar = WorkingCalendar(CalendarSpec(years=(2026, 2027)))
    assert calendar.is_working_day(date(2026, 11, 24)) and calendar.is_working_day(date(2027, 11, 24))
    (day,) = [day for day in calendar.exceptions_in(2026) if day.day == date(2026, 11, 24)]
    assert "Điều 112" in day.name and day.kind == "working"


def test_a_calendar_may_opt_out_of_the_bundled_layer(tmp_path):
    calendar = calendar_file(tmp_path, 'country = "VN"\nextends_bundled = false')
    assert calendar.is_working_day(date(2026, 1, 2))
    assert not calendar.is_working_day(date(2026, 11, 24))  # the package's own list, as it is
    assert calendar.version != calendar_file(tmp_path, 'country = "VN"').version


def test_no_country_means_no_national_days():
    calendar = WorkingCalendar(CalendarSpec(country="", years=(2026, 2026)))
    assert calendar.is_working_day(date(2026, 1, 2)) and calendar.exceptions_in(2026) == []


def test_calendar_show_lists_each_day_with_its_source(tmp_path, capsys):
    path = tmp_path / "vn.toml"
    path.write_text('country = "VN"\n', encoding="utf-8")
    assert main(["calendar", "show", "2026", "--calendar", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    (swap,) = [line for line in lines if line.startswith("02/01/2026")]
    (makeup,) = [line for line in lines if line.startswith("10/01/2026")]
    assert "nghỉ" in swap and "12729/VPCP-KGVX" in swap
    assert "làm việc" in makeup and "Thứ Bảy" in makeup
    assert any(line.startswith("17/02/2026") and "holidays" in line for line in lines)
    assert main(["calendar", "show", "1999", "--calendar", str(path)]) == 1
