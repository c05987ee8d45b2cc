"""An ended dossier's evidence: never a verdict the record cannot support, never moving with `as_of`."""

from __future__ import annotations

import pytest

from isobridge.core.caselog import RecordError
from test_core_engine import RECEIVED, TD, ev, record, run


@pytest.mark.parametrize("status", [9, 10])
def test_resolved_status_without_a_finish_instant_is_no_overdue_verdict(evaluator, status):
    """Status 9/10 says the dossier was resolved; with no event saying when, judging it
    `open_overdue` (a confident "late") would be false: the record is refused with the reason."""
    with pytest.raises(RecordError, match=f"status: {status} says the dossier was resolved"):
        run(evaluator, record(RECEIVED, TD, status=status), as_of="2025-06-01 08:00")


def test_a_returned_event_still_gives_the_finish(evaluator):
    result = run(evaluator, record(RECEIVED, TD, ev("2025-03-04 10:00", "returned")), as_of="2025-06-01 08:00")
    assert result["verdict"] == "early" and result["finished_at"].startswith("2025-03-04T10:00")


def test_a_pause_open_when_the_dossier_was_resolved_ends_there(evaluator):
    line = record(RECEIVED, TD, ev("2025-03-03 14:00", "supplement_requested"),
                  ev("2025-03-10 09:00", "resolved"), ev("2025-03-10 10:00", "returned"))
    first = run(evaluator, line, as_of="2025-04-01 08:00")
    later = run(evaluator, line, as_of="2026-06-01 08:00")
    assert first == later  # evidence of an ended dossier does not depend on the day it is evaluated
    # paused Mon 14:00 → Mon 10 Mar 09:00: 3 h + 4 working days (32 h) + 1.5 h
    assert first["paused_minutes"] == (3 + 32 + 1.5) * 60
    assert first["verdict"] == "on_time" or first["verdict"] == "early"


def test_a_pause_open_when_the_dossier_was_withdrawn_ends_at_its_last_event(evaluator):
    line = record(RECEIVED, ev("2025-03-03 14:00", "supplement_requested"),
                  ev("2025-03-05 14:00", "withdrawn"), status=7)
    first = run(evaluator, line, as_of="2025-04-01 08:00")
    assert run(evaluator, line, as_of="2026-06-01 08:00") == first
    assert first["verdict"] == "withdrawn" and first["paused_minutes"] == 16 * 60
