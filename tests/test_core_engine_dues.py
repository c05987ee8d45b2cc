"""The engine's dues are the calendar's: on generated dossiers, every step row's due, allowed and used
minutes and the dossier's computed and effective dues equal what `WorkingCalendar.due` (and
`allowance`, `paused`, `between`) say — no arithmetic is re-done here, only pauses clipped to a step."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings, strategies as st

from conftest import at
from isobridge.core.calendar import CalendarSpec, WorkingCalendar, format_instant
from isobridge.core.engine import Evaluator
from isobridge.core.models import Limit, Procedure
from isobridge.core.procedures import ProcedureBook

H = 3600


def _limit(value: float, unit: str) -> dict:
    return {"value": value, "unit": unit}


PROCEDURES = [
    {"code": "8.000001", "name": "Ngày làm việc", "limit": _limit(1.5, "working_days"), "pauses": ["verification"],
     "steps": [{"code": "A", "name": "Tiếp nhận", "limit": _limit(0.5, "working_days")},
               {"code": "B", "name": "Thẩm định", "limit": _limit(3, "working_hours")},
               {"code": "C", "name": "Xác minh", "limit": _limit(2, "calendar_days")},
               {"code": "D", "name": "Trả kết quả", "limit": _limit(0, "working_hours")}]},
    {"code": "8.000002", "name": "Ngày lịch", "limit": _limit(4, "calendar_days"), "pauses": [],
     "steps": [{"code": "A", "name": "Tiếp nhận", "limit": _limit(1, "working_hours")},
               {"code": "B", "name": "Xác minh", "limit": _limit(1.5, "calendar_days")}]},
    {"code": "8.000003", "name": "Ngay", "limit": _limit(0, "working_days"), "pauses": [],
     "steps": [{"code": "A", "name": "Tiếp nhận", "limit": _limit(0, "working_days")}]},
]
BOOK = ProcedureBook.from_procedures([Procedure.model_validate(p) for p in PROCEDURES])
LIMITS = {p["code"]: (Limit.model_validate(p["limit"]), {s["code"]: Limit.model_validate(s["limit"]) for s in p["steps"]})
          for p in PROCEDURES}


class SessionCalendar(WorkingCalendar):
    """Half a working day is the morning session (the rule lives in `working_seconds` only)."""

    def working_seconds(self, value: float, unit: str) -> int:
        if unit == "working_days" and value % 1 == 0.5:
            return int(value) * self.day_seconds + self.sessions[0][1] - self.sessions[0][0]
        return super().working_seconds(value, unit)


CALENDARS = [WorkingCalendar(CalendarSpec(name="VN-test", years=(2024, 2027))),
             SessionCalendar(CalendarSpec(name="uneven", sessions=("07:00-11:00", "13:00-16:00"), years=(2024, 2027)))]
FIRST, LAST = at("2024-12-20 00:00"), at("2026-10-01 00:00")


@st.composite
def dossiers(draw) -> tuple[dict, list[tuple[int, int]], int]:
    """A case-log line with steps, handovers (unknown step codes too), closed pauses, maybe resolved,
    the pauses as (start, end) and `as_of`."""
    procedure = draw(st.sampled_from(PROCEDURES))
    codes = [s["code"] for s in procedure["steps"]] + ["ZZ"]
    now = draw(st.integers(FIRST // 60, LAST // 60)) * 60
    received = now
    events = [{"at": format_instant(now), "kind": "received", "step": "A"}]
    pauses: list[tuple[int, int]] = []
    for _ in range(draw(st.integers(0, 5))):
        now += draw(st.integers(0, 3 * 24 * 60)) * 60
        if draw(st.booleans()) and draw(st.booleans()):
            asked, back = now, now + draw(st.integers(1, 4 * 24 * 60)) * 60
            kind, closing = draw(st.sampled_from([("supplement_requested", "supplement_received"), ("paused", "resumed")]))
            pause = {"at": format_instant(asked), "kind": kind}
            if kind == "paused":
                pause["reason"] = draw(st.sampled_from(procedure["pauses"] or ["other"]))
            events += [pause, {"at": format_instant(back), "kind": closing}]
            if kind == "supplement_requested" or pause["reason"] in procedure["pauses"]:
                pauses.append((asked, back))
            now = back
        else:
            events.append({"at": format_instant(now), "kind": "handover", "step": draw(st.sampled_from(codes))})
    resolved = draw(st.booleans())
    if resolved:
        now += draw(st.integers(0, 2 * 24 * 60)) * 60
        events.append({"at": format_instant(now), "kind": "resolved"})
    as_of = now + draw(st.integers(0, 10 * 24 * 60)) * 60
    line = {"dossier": "HS-P", "procedure": procedure["code"], "agency": "UBND xã", "channel": "direct",
            "received_at": format_instant(received), "status": 10 if resolved else 4, "events": events}
    if resolved:
        line["events"].append({"at": format_instant(now + 60), "kind": "returned"})
    return line, pauses, as_of


def _instant(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def _clipped(pauses: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    return [(max(low, start), min(high, end)) for low, high in pauses if min(high, end) > max(low, start)]


@pytest.mark.parametrize("cal", CALENDARS, ids=lambda c: c.name)
@settings(max_examples=250, deadline=None)
@given(case=dossiers())
def test_engine_dues_are_the_calendars(cal, case):
    line, pauses, as_of = case
    evidence = Evaluator(BOOK, cal, as_of).evaluate_record(line)
    limit, step_limits = LIMITS[line["procedure"]]
    received = _instant(line["received_at"])
    dossier_allowance = cal.allowance(limit)
    assert evidence["computed_due_at"] == cal.due(received, dossier_allowance)[1]
    assert evidence["due_at"] == cal.due(received, dossier_allowance, pauses)[1]
    for row in evidence["steps"]:
        start = _instant(row["started_at"])
        end = _instant(row["finished_at"]) if row["finished_at"] else max(as_of, start)
        inside = _clipped(pauses, start, end)
        if row["step"] not in step_limits:
            assert row["due_at"] is None and row["time_basis"] == "working"
            assert row["used_minutes"] == (cal.between(start, end) - sum(cal.between(*p) for p in inside)) // 60
            continue
        allowance = cal.allowance(step_limits[row["step"]])
        assert row["due_at"] == cal.due(start, allowance, inside)[1]
        assert (row["allowed_minutes"], row["time_basis"]) == (allowance.minutes, allowance.basis)
        spent = cal.between(start, end) if allowance.basis == "working" else end - start
        assert row["used_minutes"] == (spent - cal.paused(allowance, inside)) // 60


def test_a_zero_step_finished_after_hours_at_its_start_is_on_time():
    """A step allowed no time, entered and left at 19:00: due at its start (it used to fall due at
    17:00, before it began, and be judged late)."""
    cal = CALENDARS[0]
    line = {"dossier": "HS-0", "procedure": "8.000001", "agency": "UBND xã", "channel": "online",
            "received_at": "2025-03-05T08:00:00+07:00", "status": 4, "events": [
                {"at": "2025-03-05T08:00:00+07:00", "kind": "received", "step": "A"},
                {"at": "2025-03-05T19:00:00+07:00", "kind": "handover", "step": "D"},
                {"at": "2025-03-05T19:00:00+07:00", "kind": "handover", "step": "ZZ"}]}
    row = Evaluator(BOOK, cal, at("2025-03-06 08:00")).evaluate_record(line)["steps"][1]
    assert (row["step"], row["due_at"], row["verdict"]) == ("D", "2025-03-05T19:00:00+07:00", "on_time")
