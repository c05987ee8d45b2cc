"""One unit per number: a step row's used and allowed minutes count the same thing, and say which."""

from __future__ import annotations

from isobridge.core.engine import EVIDENCE_SCHEMA_VERSION
from test_core_engine import ev, record, run


def test_calendar_day_step_counts_calendar_minutes_on_both_sides(evaluator):
    line = record(ev("2025-03-03 10:00", "received", step="TN"), ev("2025-03-03 11:00", "handover", step="XM"),
                  ev("2025-03-05 09:00", "supplement_requested"), ev("2025-03-06 09:00", "supplement_received"),
                  ev("2025-03-07 11:00", "resolved"), received="2025-03-03 10:00", procedure="9.000002")
    result = run(evaluator, line)
    tn, xm = result["steps"]
    assert (tn["time_basis"], tn["allowed_minutes"], tn["used_minutes"]) == ("working", 240, 60)
    # XM: Mon 11:00 → Fri 11:00 is 4 × 1440 calendar minutes, less the 1440 paused.
    assert (xm["time_basis"], xm["allowed_minutes"], xm["used_minutes"]) == ("calendar", 5 * 1440, 3 * 1440)
    assert result["schema_version"] == EVIDENCE_SCHEMA_VERSION == 2


def test_unknown_step_counts_working_minutes(evaluator):
    line = record(ev("2025-03-03 08:00", "received"), ev("2025-03-03 14:00", "handover", step="XX"),
                  ev("2025-03-03 15:00", "resolved"))
    row = run(evaluator, line)["steps"][1]
    assert (row["time_basis"], row["used_minutes"], row["allowed_minutes"]) == ("working", 60, None)
