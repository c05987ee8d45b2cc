"""`isobridge procedures check`: every problem of a procedure folder, one line naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from isobridge.core import samples
from isobridge.core.cli import main
from isobridge.core.procedures import ProcedureError
from isobridge.core.report.drift_check import check_procedures


def write(folder: Path, name: str, code: str = "1.1", total: str = "{ value = 3, unit = \"working_days\" }",
          steps: list[tuple[str, str]] | None = None, extra: str = "") -> Path:
    steps = steps or [("TN", '{ value = 4, unit = "working_hours" }'), ("TD", '{ value = 2, unit = "working_days" }')]
    body = "".join(f'\n[[steps]]\ncode = "{code_}"\nname = "Bước {code_}"\nlimit = {limit}\n' for code_, limit in steps)
    path = folder / name
    path.write_text(f'code = "{code}"\nname = "Thủ tục {code}"\n{extra}\nlimit = {total}\n{body}', encoding="utf-8")
    return path


def lines(folder: Path, hours: float = 8.0) -> list[str]:
    return [str(line) for line in check_procedures(folder, hours)]


def test_a_consistent_folder_has_no_problem(tmp_path) -> None:
    write(tmp_path, "a.toml")   # 4 h + 2 days = 20 h within 3 days = 24 h
    write(tmp_path, "a-v2.toml", extra='version = "2"\neffective_from = 2025-07-01')
    assert lines(tmp_path) == []


def test_step_limits_above_the_total(tmp_path) -> None:
    path = write(tmp_path, "a.toml", steps=[("TN", '{ value = 1, unit = "working_days" }'),
                                            ("TD", '{ value = 17, unit = "working_hours" }')])
    assert lines(tmp_path) == [f"{path}: procedure 1.1: the step limits add up to 25 giờ làm việc, more than the"
                               " total 3 ngày làm việc (8 working hours a day)"]
    assert lines(tmp_path, hours=8.5) == []   # 8,5 + 17 = 25,5 h within 3 × 8,5 = 25,5 h

def test_units_known_and_steps_unique(tmp_path) -> None:
    unknown = write(tmp_path, "a.toml", total='{ value = 3, unit = "work_days" }')
    twice = write(tmp_path, "b.toml", code="2.2", steps=[("TN", '{ value = 1, unit = "working_hours" }')] * 2)
    broken = tmp_path / "c.toml"
    broken.write_text('code = "3.3"\nname = ', encoding="utf-8")
    found = lines(tmp_path)
    assert len(found) == 3
    assert found[0].startswith(f"{unknown}: limit.unit: Input should be 'working_days', 'working_hours' or"
                               " 'calendar_days'")
    assert found[1] == f"{twice}: procedure 2.2: step code 'TN' appears twice"
    assert found[2].startswith(f"{broken}: invalid TOML")


def test_versions_overlapping_in_time(tmp_path) -> None:
    write(tmp_path, "a1.toml", extra='version = "1"\neffective_from = 2025-01-01')
    same_day = write(tmp_path, "a2.toml", extra='version = "2"\neffective_from = 2025-01-01')
    write(tmp_path, "b1.toml", code="2.2")
    undated = write(tmp_path, "b2.toml", code="2.2", extra='version = "2"')
    write(tmp_path, "c1.toml", code="3.3", extra='version = "1"\neffective_from = 2024-01-01')
    reused = write(tmp_path, "c2.toml", code="3.3", extra='version = "1"\neffective_from = 2025-01-01')
    assert lines(tmp_path) == [
        f"{same_day}: procedure 1.1: takes effect on 2025-01-01, like a1.toml: two versions in force at once",
        f"{undated}: procedure 2.2: takes effect from the beginning (no effective_from), like b1.toml: two"
        " versions in force at once",
        f"{reused}: procedure 3.3: issue '1' is also c1.toml's, with another effective date"]


def test_mixed_units_are_a_note_not_a_problem(tmp_path) -> None:
    path = write(tmp_path, "a.toml", total='{ value = 10, unit = "calendar_days" }')
    (note,) = check_procedures(tmp_path)
    assert note.note and str(note).startswith(f"{path}: note: procedure 1.1: step limits in working_days,"
                                              " working_hours cannot be added up against the total in calendar_days")


def test_calendar_days_add_up(tmp_path) -> None:
    path = write(tmp_path, "a.toml", total='{ value = 10, unit = "calendar_days" }',
                 steps=[("TN", '{ value = 4, unit = "calendar_days" }'), ("XM", '{ value = 6.5, unit = "calendar_days" }')])
    assert lines(tmp_path) == [f"{path}: procedure 1.1: the step limits add up to 10,5 ngày, more than the total"
                               " 10 ngày (8 working hours a day)"]


def test_an_empty_folder_is_an_error(tmp_path) -> None:
    with pytest.raises(ProcedureError, match="no procedure files"):
        check_procedures(tmp_path)


def test_command_exit_codes(tmp_path, capsys) -> None:
    assert main(["procedures", "check", "--procedures", str(samples.PROCEDURES)]) == 0
    out, err = capsys.readouterr()
    assert "2.001023.toml: note:" in out and "0 problems, 1 notes" in err
    bad = write(tmp_path, "a.toml", total='{ value = 1, unit = "working_days" }')
    assert main(["procedures", "check", "--procedures", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines()[0].startswith(f"{bad}: procedure 1.1: the step limits add up to 20 giờ làm việc")
    assert "1 problems" in err
    assert main(["procedures", "check", "--procedures", str(tmp_path / "absent")]) == 1
    assert "not a folder of procedure files" in capsys.readouterr().err
