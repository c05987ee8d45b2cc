"""Consistency of a folder of ISO procedure files (`isobridge procedures check`).

Problems, each naming the file:

- the file is not valid TOML or not a valid procedure (an unknown limit unit — the known ones are
  ``working_days``, ``working_hours`` and ``calendar_days`` — a missing key, …);
- two steps share a code (the case log names steps by code);
- the step limits add up to more than the total limit. Optional steps count: a dossier that goes
  through every step must still fit. Working days and working hours add up through the working
  calendar's hours per day; calendar days with calendar days;
- two versions of one procedure code take effect on the same day (two versions without an
  ``effective_from`` both apply from the beginning), or carry the same issue number.

When steps count working time and the total calendar days (or the other way round) the sum cannot
be checked: that is said in a *note*, which is not a problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..models import Procedure
from ..procedures import ProcedureError, procedure_files, read_procedure
from .drift import WORKING_UNITS, limit_text


@dataclass(frozen=True)
class CheckLine:
    """One problem or note about a procedure file."""

    path: Path
    message: str
    note: bool = False

    def __str__(self) -> str:
        return f"{self.path}: {'note: ' if self.note else ''}{self.message}"


def _hours(value: float, unit: str, hours_per_day: float) -> float:
    return value * hours_per_day if unit == "working_days" else value


def step_sum(path: Path, procedure: Procedure, hours_per_day: float) -> list[CheckLine]:
    """A problem when the steps' limits exceed the total, a note when they cannot be added up."""
    total, total_unit = procedure.limit.value, str(procedure.limit.unit)
    units = {str(step.limit.unit) for step in procedure.steps}
    if total_unit in WORKING_UNITS and units <= set(WORKING_UNITS):
        steps = sum(_hours(step.limit.value, str(step.limit.unit), hours_per_day) for step in procedure.steps)
        allowed, unit = _hours(total, total_unit, hours_per_day), "working_hours"
    elif total_unit == "calendar_days" and units == {"calendar_days"}:
        steps, allowed, unit = sum(step.limit.value for step in procedure.steps), total, "calendar_days"
    else:
        return [CheckLine(path, f"procedure {procedure.code}: step limits in {', '.join(sorted(units))} cannot be"
                                f" added up against the total in {total_unit}; check the sum by hand", True)]
    if steps > allowed + 1e-9:
        return [CheckLine(path, f"procedure {procedure.code}: the step limits add up to {limit_text(steps, unit)},"
                                f" more than the total {limit_text(total, total_unit)}"
                                f" ({hours_per_day:g} working hours a day)")]
    return []


def duplicate_steps(path: Path, procedure: Procedure) -> list[CheckLine]:
    """A problem for each step code used twice."""
    seen: set[str] = set()
    found = []
    for step in procedure.steps:
        if step.code in seen:
            found.append(CheckLine(path, f"procedure {procedure.code}: step code {step.code!r} appears twice"))
        seen.add(step.code)
    return found


def overlapping_versions(read: list[tuple[Path, Procedure]]) -> list[CheckLine]:
    """Problems for versions of one code that take effect on the same day or share an issue number."""
    found = []
    by_code: dict[str, list[tuple[Path, Procedure]]] = {}
    for path, procedure in read:
        by_code.setdefault(procedure.code, []).append((path, procedure))
    for code, versions in sorted(by_code.items()):
        for index, (path, procedure) in enumerate(versions):
            for other_path, other in versions[:index]:
                if procedure.effective_from == other.effective_from:
                    since = f"on {procedure.effective_from}" if procedure.effective_from else \
                        "from the beginning (no effective_from)"
                    found.append(CheckLine(path, f"procedure {code}: takes effect {since}, like {other_path.name}:"
                                                 " two versions in force at once"))
                elif procedure.version == other.version:
                    found.append(CheckLine(path, f"procedure {code}: issue {procedure.version!r} is also"
                                                 f" {other_path.name}'s, with another effective date"))
    return found


def check_procedures(folder: str | Path, hours_per_day: float = 8.0) -> list[CheckLine]:
    """Every problem and note of the procedure files (`*.toml`) in a folder, file by file."""
    lines: list[CheckLine] = []
    read: list[tuple[Path, Procedure]] = []
    for path in procedure_files(folder):
        try:
            procedure = read_procedure(path)
        except ProcedureError as exc:
            lines.append(CheckLine(path, str(exc).removeprefix(f"{path}: ")))
            continue
        except (OSError, UnicodeDecodeError) as exc:
            lines.append(CheckLine(path, f"cannot be read: {getattr(exc, 'strerror', None) or exc}"))
            continue
        read.append((path, procedure))
        lines.extend(duplicate_steps(path, procedure) + step_sum(path, procedure, hours_per_day))
    return lines + overlapping_versions(read)
