"""Conformity engine: hand-computed verdicts, pauses, nonconformities, procedure versions, rejects."""

from __future__ import annotations

import io

import pytest

from conftest import at, iso
from isobridge.core.caselog import RecordError, parse_case
from isobridge.core.generate import CaseLogGenerator
from isobridge.core.models import Dossier, Evidence
from isobridge.core.procedures import ProcedureBook, ProcedureError


def ev(when: str, kind: str, **fields) -> dict:
    """A case-log event at a Vietnam-local 'YYYY-MM-DD HH:MM'."""
    return {"at": iso(when), "kind": kind, **fields}


def record(*events: dict, received: str = "2025-03-03 08:00", status: int = 10,
           procedure: str = "9.000001", due: str | None = None) -> dict:
    """A case-log line of procedure 9.000001 (2 working days) received Monday 3 March 2025."""
    line = {"dossier": "HS-1", "procedure": procedure, "agency": "UBND xã", "channel": "direct",
            "received_at": iso(received), "status": status, "events": list(events)}
    if due is not None:
        line["due_at"] = iso(due)
    return line


def run(evaluator, line: dict, as_of: str | None = None) -> dict:
    """Evaluate one line and check it against the Evidence contract."""
    if as_of is not None:
        evaluator.as_of = at(as_of)
    evidence = evaluator.evaluate_record(line)
    Evidence.model_validate(evidence)
    return evidence


def kinds(evidence: dict) -> list[tuple[str, str | None]]:
    return [(n["kind"], n["step"]) for n in evidence["nonconformities"]]


def steps(evidence: dict) -> list[tuple]:
    return [(s["step"], s["used_minutes"], s["due_at"], s["verdict"]) for s in evidence["steps"]]


RECEIVED = ev("2025-03-03 08:00", "received")  # no step given: the first step (TN)
TD = ev("2025-03-03 09:30", "handover", step="TD", from_unit="Một cửa", unit="Phòng Kinh tế")
PD = ev("2025-03-04 09:30", "handover", step="PD", from_unit="Phòng Kinh tế", unit="Lãnh đạo")


def test_baseline_dossier_early_with_every_step_on_time(evaluator):
    result = run(evaluator, record(RECEIVED, TD, PD, ev("2025-03-04 10:00", "resolved"),
                                   ev("2025-03-04 10:30", "returned")))
    # 2 working days from Mon 08:00: 7.5 h Monday, 8 h Tuesday, 0.5 h Wednesday.
    assert result["computed_due_at"] == result["due_at"] == iso("2025-03-05 08:00")
    assert result["finished_at"] == iso("2025-03-04 10:00")
    assert result["verdict"] == "early"
    assert steps(result) == [
        ("TN", 90, iso("2025-03-03 10:00"), "on_time"),
        # TD uses exactly its working day (09:30 Mon → 09:30 Tue): due then, finished then → on time.
        ("TD", 480, iso("2025-03-04 09:30"), "on_time"),
        # PD is finished by `returned`; 09:30 + 4 h crosses lunch → 15:00.
        ("PD", 60, iso("2025-03-04 15:00"), "on_time"),
    ]
    assert [s["allowed_minutes"] for s in result["steps"]] == [120, 480, 240]
    assert result["steps"][1]["from_unit"] == "Một cửa" and result["steps"][1]["unit"] == "Phòng Kinh tế"
    assert result["nonconformities"] == []  # LY is optional
    assert result["paused_minutes"] == 0
    assert result["calendar"]["name"] == "VN-test" and len(result["calendar"]["version"]) == 12


def test_step_finished_on_an_earlier_day_is_early(evaluator):
    result = run(evaluator, record(RECEIVED, TD, ev("2025-03-03 16:00", "handover", step="PD"), status=4))
    assert steps(result)[1] == ("TD", 300, iso("2025-03-04 09:30"), "early")


def test_on_time_is_day_granular_and_late_step_is_flagged(evaluator):
    # Resolved at 16:00 on the due day (due 08:00): on time per Decision 766; PD itself is late.
    result = run(evaluator, record(RECEIVED, TD, PD, ev("2025-03-05 16:00", "resolved")))
    assert result["verdict"] == "on_time"
    assert steps(result)[2] == ("PD", 780, iso("2025-03-04 15:00"), "late")
    assert kinds(result) == [("late_step", "PD")]
    assert "finished after its due 2025-03-04T15:00:00+07:00" in result["nonconformities"][0]["detail"]


def test_late_dossier_without_timely_apology(evaluator):
    result = run(evaluator, record(RECEIVED, TD, PD, ev("2025-03-06 09:00", "resolved")))
    assert result["verdict"] == "late"
    assert kinds(result) == [("late_step", "PD"), ("late_dossier", None), ("late_without_timely_apology", None)]


@pytest.mark.parametrize(
    "apology, timely",
    [("2025-03-04 07:30", True),  # 8.5 working hours before the due
     ("2025-03-04 08:00", True),  # exactly one working day before
     ("2025-03-04 10:00", False)],  # only 6 working hours before
)
def test_apology_must_come_a_working_day_before_the_due(evaluator, apology, timely):
    line = record(RECEIVED, TD, ev(apology, "apology_issued", reason="Cần xác minh", new_due_at=iso("2025-03-07 08:00")),
                  PD, ev("2025-03-06 09:00", "resolved"))
    found = kinds(run(evaluator, line))
    assert ("late_dossier", None) in found
    assert (("late_without_timely_apology", None) in found) is not timely


def test_more_than_one_apology_exceeds_the_reschedule_limit(evaluator):
    line = record(RECEIVED, TD, ev("2025-03-03 10:00", "apology_issued"), ev("2025-03-03 11:00", "apology_issued"),
                  PD, ev("2025-03-04 10:00", "resolved"))
    result = run(evaluator, line)
    assert result["verdict"] == "early"
    assert kinds(result) == [("reschedule_limit_exceeded", None)]


def test_open_dossier_against_as_of(evaluator):
    line = record(RECEIVED, TD, status=4)
    early = run(evaluator, line, as_of="2025-03-04 08:00")
    assert early["verdict"] == "open_on_time" and early["finished_at"] is None
    assert steps(early)[1] == ("TD", 390, iso("2025-03-04 09:30"), "open")
    assert early["nonconformities"] == []
    late = run(evaluator, line, as_of="2025-03-06 08:00")
    assert late["verdict"] == "open_overdue"
    assert steps(late)[1][3] == "open_overdue"
    assert kinds(late) == [("late_step", "TD"), ("late_dossier", None), ("late_without_timely_apology", None)]
    assert "still open" in late["nonconformities"][0]["detail"]


SUPPLEMENT = [ev("2025-03-03 10:30", "supplement_requested", reason="Thiếu giấy tờ"),
              ev("2025-03-05 10:30", "supplement_received")]
VERIFICATION = [ev("2025-03-03 10:30", "paused", reason="verification"), ev("2025-03-05 10:30", "resumed")]
AFTER_PAUSE = [ev("2025-03-06 09:00", "handover", step="PD"), ev("2025-03-06 10:00", "resolved"),
               ev("2025-03-06 10:30", "returned")]


@pytest.mark.parametrize("pause", [SUPPLEMENT, VERIFICATION], ids=["supplement", "listed-reason"])
def test_pause_moves_dossier_and_step_dues(evaluator, pause):
    result = run(evaluator, record(RECEIVED, TD, *pause, *AFTER_PAUSE))
    # Paused Mon 10:30 → Wed 10:30: 1 + 4 + 8 + 3 = 16 working hours.
    assert result["paused_minutes"] == 960
    assert result["computed_due_at"] == iso("2025-03-05 08:00")
    assert result["due_at"] == iso("2025-03-07 08:00")  # moved by the 16 h
    assert result["verdict"] == "early"
    # TD: 23.5 working hours elapsed minus 16 paused; its due moves from Tue 09:30 to Thu 09:30.
    assert steps(result)[1] == ("TD", 450, iso("2025-03-06 09:30"), "on_time")
    assert steps(result)[2] == ("PD", 90, iso("2025-03-06 14:30"), "on_time")
    assert result["nonconformities"] == []


def test_pause_with_an_unlisted_reason_does_not_stop_the_clock(evaluator):
    pause = [ev("2025-03-03 10:30", "paused", reason="nghỉ phép"), ev("2025-03-05 10:30", "resumed")]
    result = run(evaluator, record(RECEIVED, TD, *pause, *AFTER_PAUSE))
    assert result["paused_minutes"] == 0
    assert result["due_at"] == iso("2025-03-05 08:00")
    assert result["verdict"] == "late"
    assert steps(result)[1] == ("TD", 1410, iso("2025-03-04 09:30"), "late")


def test_paused_verdicts(evaluator):
    open_pause = run(evaluator, record(RECEIVED, TD, SUPPLEMENT[0], status=4), as_of="2025-03-04 08:00")
    assert open_pause["verdict"] == "paused"
    assert open_pause["paused_minutes"] == 330  # 10:30 Mon → 08:00 Tue, still paused at as_of
    by_status = run(evaluator, record(RECEIVED, TD, status=5), as_of="2025-03-10 08:00")
    assert by_status["verdict"] == "paused"


@pytest.mark.parametrize(
    "kind, status", [("refused", 3), ("withdrawn", 7), ("stopped", 8)],
)
def test_terminal_verdicts(evaluator, kind, status):
    by_event = run(evaluator, record(RECEIVED, ev("2025-03-03 09:00", kind, reason="x"), status=4))
    assert by_event["verdict"] == kind
    assert steps(by_event) == [("TN", 60, iso("2025-03-03 10:00"), "on_time")]  # ended by the event
    # Terminal by status alone: the step never closed is left unjudged, not overdue against as_of.
    by_status = run(evaluator, record(RECEIVED, status=status), as_of="2025-04-01 08:00")
    assert by_status["verdict"] == kind and by_status["nonconformities"] == []
    assert steps(by_status) == [("TN", 0, iso("2025-03-03 10:00"), "open")]


def test_missing_step_in_a_resolved_dossier(evaluator):
    line = record(RECEIVED, ev("2025-03-03 09:30", "handover", step="PD"), ev("2025-03-03 14:00", "resolved"))
    assert kinds(run(evaluator, line)) == [("missing_step", "TD")]
    # An open dossier has not missed anything yet.
    assert kinds(run(evaluator, record(RECEIVED, status=4), as_of="2025-03-03 09:00")) == []


def test_out_of_order_but_not_when_sent_back(evaluator):
    back = record(RECEIVED, TD, PD, ev("2025-03-04 10:00", "sent_back", step="TD", reason="làm rõ"),
                  ev("2025-03-04 11:00", "handover", step="PD"), ev("2025-03-04 14:00", "resolved"))
    result = run(evaluator, back)
    assert [s["step"] for s in result["steps"]] == ["TN", "TD", "PD", "TD", "PD"]
    assert kinds(result) == []
    skipped_back = record(RECEIVED, ev("2025-03-03 09:30", "handover", step="PD"),
                          ev("2025-03-03 11:00", "handover", step="TD"),
                          ev("2025-03-03 14:00", "handover", step="PD"), ev("2025-03-03 15:00", "resolved"))
    assert kinds(run(evaluator, skipped_back)) == [("out_of_order", "TD")]


@pytest.mark.parametrize("given, mismatch", [("2025-03-05 10:00", True), ("2025-03-05 08:30", False)])
def test_due_date_mismatch(evaluator, given, mismatch):
    result = run(evaluator, record(RECEIVED, TD, PD, ev("2025-03-04 10:00", "resolved"), due=given))
    assert result["due_at"] == iso(given)  # the appointment given wins over the computed due
    assert result["computed_due_at"] == iso("2025-03-05 08:00")
    assert kinds(result) == ([("due_date_mismatch", None)] if mismatch else [])


def test_appointment_decides_the_dossier_verdict(evaluator):
    line = record(RECEIVED, TD, PD, ev("2025-03-06 09:00", "resolved"), due="2025-03-06 08:00")
    assert run(evaluator, line)["verdict"] == "on_time"


def test_unknown_step(evaluator):
    result = run(evaluator, record(RECEIVED, TD, ev("2025-03-03 14:00", "handover", step="XX"),
                                   ev("2025-03-03 15:00", "handover", step="PD"), ev("2025-03-03 16:00", "resolved")))
    row = result["steps"][2]
    assert (row["step"], row["due_at"], row["allowed_minutes"], row["verdict"], row["used_minutes"]) == ("XX", None, None, None, 60)
    assert kinds(result) == [("unknown_step", "XX")]


def test_calendar_days_procedure_rolls_past_tet(evaluator):
    line = record(ev("2025-01-20 10:00", "received", step="TN"), ev("2025-01-20 11:00", "handover", step="XM"),
                  ev("2025-02-03 16:00", "resolved"), received="2025-01-20 10:00", procedure="9.000002")
    result = run(evaluator, line)
    # 10 calendar days → Thu 30 Jan (Tết) → rolls to the end of Mon 3 Feb.
    assert result["computed_due_at"] == iso("2025-02-03 17:00")
    assert result["verdict"] == "on_time"
    # XM: 5 calendar days → Sat 25 Jan → the next working day is after Tết.
    assert steps(result)[1][2:] == (iso("2025-02-03 17:00"), "on_time")
    assert result["steps"][1]["allowed_minutes"] == 5 * 1440


def test_calendar_days_pause_moves_the_due_by_elapsed_time(evaluator):
    line = record(ev("2025-03-03 10:00", "received"), ev("2025-03-04 10:00", "supplement_requested"),
                  ev("2025-03-06 10:00", "supplement_received"), ev("2025-03-14 09:00", "resolved"),
                  received="2025-03-03 10:00", procedure="9.000002")
    result = run(evaluator, line)
    assert result["computed_due_at"] == iso("2025-03-13 10:00")
    assert result["due_at"] == iso("2025-03-15 10:00")
    assert result["paused_minutes"] == 960
    assert result["verdict"] == "early"


@pytest.mark.parametrize(
    "received, due",
    [("2025-12-31 09:00", "2026-01-06 09:00"),  # version 1: 2 working days (1 and 2 Jan are off)
     ("2026-01-05 09:00", "2026-01-08 09:00")],  # version 2 (from 2026-01-01): 3 working days
)
def test_procedure_version_by_effective_date(evaluator, received, due):
    result = run(evaluator, record(ev(received, "received"), received=received, status=4), as_of=received)
    assert result["computed_due_at"] == iso(due)


def test_steps_of_the_version_in_force_are_used(evaluator):
    line = record(ev("2026-01-05 09:00", "received"), ev("2026-01-05 10:00", "handover", step="TD"),
                  ev("2026-01-07 10:00", "handover", step="PD"), ev("2026-01-07 11:00", "resolved"),
                  received="2026-01-05 09:00")
    result = run(evaluator, line)
    assert steps(result)[1] == ("TD", 960, iso("2026-01-07 10:00"), "on_time")  # 2 days in version 2


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"procedure": "0.000000"}, "procedure: unknown procedure '0.000000'"),
        ({"received_at": iso("2023-06-01 08:00")}, "no version in force on 2023-06-01"),
        ({"received_at": "2025-03-03T08:00:00"}, "received_at: '2025-03-03T08:00:00' has no UTC offset"),
        ({"received_at": "3/3/2025"}, "is not an ISO 8601 timestamp"),
        ({"status": 11}, "status: 11 is not a national status code"),
        ({"dossier": ""}, "dossier: expected a non-empty string"),
        ({"events": [{"at": iso("2025-03-03 08:00"), "kind": "teleported"}]}, "events[0].kind: 'teleported'"),
        ({"events": "none"}, "events: expected a list"),
    ],
)
def test_bad_records_are_rejected_with_a_reason(evaluator, change, reason):
    line = {**record(RECEIVED), **change}
    with pytest.raises(RecordError) as caught:
        evaluator.evaluate_record(line)
    assert any(reason in error for error in caught.value.errors), caught.value.errors


def test_every_problem_of_a_record_is_listed():
    with pytest.raises(RecordError) as caught:
        parse_case({"procedure": "9.000001", "received_at": "yesterday", "status": "4",
                    "events": [{"kind": "received"}, 7]})
    assert len(caught.value.errors) == 5
    assert caught.value.errors[0] == "dossier: missing"
    with pytest.raises(RecordError, match="expected a JSON object"):
        parse_case([1, 2])


def test_outside_the_calendar_becomes_a_record_error(evaluator):
    line = record(ev("2027-12-30 08:00", "received"), received="2027-12-30 08:00", status=4)
    with pytest.raises(RecordError, match="evaluation: .*extend `years`"):
        evaluator.evaluate_record(line)


def test_events_are_taken_in_time_order(evaluator):
    ordered = run(evaluator, record(RECEIVED, TD, PD, ev("2025-03-04 10:00", "resolved")))
    shuffled = run(evaluator, record(PD, ev("2025-03-04 10:00", "resolved"), TD, RECEIVED))
    assert shuffled == ordered


def test_typed_api_matches_the_dict_api(evaluator):
    line = record(RECEIVED, TD, *SUPPLEMENT, *AFTER_PAUSE)
    typed = evaluator.evaluate(Dossier.model_validate(line))
    assert typed == Evidence.model_validate(evaluator.evaluate_record(line))


def test_generated_case_log_evaluates_to_valid_evidence(vn_calendar):
    from isobridge.core import samples
    from isobridge.core.engine import Evaluator

    book = ProcedureBook.from_dir(samples.PROCEDURES)
    buffer = io.BytesIO()
    CaseLogGenerator(book, vn_calendar, seed=1).write(400, buffer)
    evaluator = Evaluator(book, vn_calendar, at("2027-01-01 00:00"))
    import orjson
    verdicts = set()
    for line in buffer.getvalue().splitlines():
        evidence = evaluator.evaluate_record(orjson.loads(line))
        Evidence.model_validate(evidence)
        verdicts.add(evidence["verdict"])
    assert {"early", "on_time", "late", "refused"} <= verdicts


def test_duplicate_effective_dates_are_refused():
    from isobridge.core.models import Procedure
    from conftest import TEST_PROCEDURES

    twice = [Procedure.model_validate(TEST_PROCEDURES[0])] * 2
    with pytest.raises(ProcedureError, match="share an effective date"):
        ProcedureBook.from_procedures(twice)


from datetime import datetime as _datetime, timedelta as _timedelta, timezone as _timezone

from hypothesis import given, settings, strategies as st

from isobridge.core.caselog import parse_instant


@settings(max_examples=400, deadline=None)
@given(
    moment=st.datetimes(min_value=_datetime(1971, 1, 1), max_value=_datetime(2040, 1, 1)),
    offset=st.sampled_from([0, 7 * 60, -5 * 60, 5 * 60 + 30]),
    style=st.sampled_from(["seconds", "minutes", "milliseconds", "zulu"]),
)
def test_cached_timestamp_parsing_agrees_with_fromisoformat(moment, offset, style):
    aware = moment.replace(tzinfo=_timezone(_timedelta(minutes=offset)))
    text = {
        "seconds": aware.isoformat(timespec="seconds"),
        "minutes": aware.isoformat(timespec="minutes"),
        "milliseconds": aware.isoformat(timespec="milliseconds"),
        "zulu": moment.isoformat(timespec="seconds") + "Z",
    }[style]
    expected = int(_datetime.fromisoformat(text).timestamp())
    for _ in range(2):  # first parse fills the caches, the second one reads them
        errors: list[str] = []
        assert parse_instant(text, "at", errors) == expected and errors == []


@pytest.mark.parametrize("text", ["2025-02-30T08:00:00+07:00", "2025-03-03T24:00:00+07:00",
                                  "2025-03-03T08:61:00+07:00", "2025-03-03T08:00:00", "2025-03-03T08"])
def test_invalid_timestamps_are_never_cached_into_validity(text):
    for _ in range(2):
        errors: list[str] = []
        assert parse_instant(text, "at", errors) is None and errors


def test_non_text_actor_is_refused_on_the_fast_path_too(evaluator):
    """The same event shape once with text and once with a number as its officer: the first
    takes the fast path (its timestamp is cached by then), the second must still be refused."""
    good = dict(TD, actor="Cán bộ A")
    run(evaluator, record(RECEIVED, good, status=4))
    with pytest.raises(RecordError) as refused:
        evaluator.evaluate_record(record(RECEIVED, dict(TD, actor=5), status=4))
    assert refused.value.errors == ["events[1].actor: expected text, got int"]
