"""One unit per number: a step row's minutes as working hours or calendar days, never mixed.

Evidence of schema version 2 says on every step row what its minutes count (`time_basis`):
working minutes (working_days / working_hours limits) or calendar minutes (calendar_days limits,
1440 a day). Version 1 had no `time_basis`: its used minutes were working minutes on every row
while the allowed minutes of a calendar-day row counted 1440 a day.
"""

from __future__ import annotations

WORKING, CALENDAR = "working", "calendar"
UNIT = {WORKING: "giờ làm việc", CALENDAR: "ngày"}
PER_UNIT = {WORKING: 60, CALENDAR: 1440}
V1_NOTE = "minh chứng phiên bản 1: thời gian đã dùng tính theo giờ làm việc"


def decimal(value: float) -> str:
    """'32,5' (one decimal, Vietnamese comma)."""
    return f"{value:.1f}".replace(".", ",")


def basis(row: dict, schema_version: int | None) -> str | None:
    """What a row's minutes count: 'working', 'calendar', or None for a version 1 row (mixed)."""
    found = row.get("time_basis")
    if found in PER_UNIT:
        return found
    return WORKING if (schema_version or 1) >= 2 else None


def amount(minutes: int | float, unit: str) -> str:
    """Minutes in the row's unit: hours for working minutes, days for calendar minutes."""
    return decimal(minutes / PER_UNIT[unit])


def step_time(row: dict, schema_version: int | None, limit_unit: str | None = None) -> str:
    """'3,5/4,0 giờ làm việc' or '2,1/6,0 ngày'; a version 1 row states each number's unit."""
    used, allowed = row.get("used_minutes"), row.get("allowed_minutes")
    unit = basis(row, schema_version)
    if unit is not None:
        spent = amount(used, unit) if used is not None else "?"
        limit = f"/{amount(allowed, unit)}" if allowed is not None else ""
        return f"{spent}{limit} {UNIT[unit]}"
    spent = f"đã dùng {amount(used, WORKING)} {UNIT[WORKING]}" if used is not None else "đã dùng ?"
    if allowed is None:
        return f"{spent} ({V1_NOTE})"
    allowed_unit = CALENDAR if limit_unit == "calendar_days" else WORKING
    return f"{spent}, thời hạn {amount(allowed, allowed_unit)} {UNIT[allowed_unit]} ({V1_NOTE})"
