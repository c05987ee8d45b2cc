"""The conformity engine: a dossier's case log against its ISO procedure and a working calendar.

`Evaluator.evaluate_record` is the hot path (decoded JSON in, evidence dict out); `evaluate`
is the typed API over the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from .calendar import DAY, WorkingCalendar, format_instant, local_date

_OFFSET = 7 * 3600
from .caselog import Case, CaseEvent, RecordError, parse_case
from .models import Dossier, Evidence, LimitUnit, Limit, Procedure
from .procedures import ProcedureBook, ProcedureError

ENTERING = frozenset({"received", "handover", "sent_back"})
TERMINAL = {"refused": "refused", "withdrawn": "withdrawn", "stopped": "stopped"}
TERMINAL_STATUS = {3: "refused", 7: "withdrawn", 8: "stopped"}
TERMINAL_VERDICTS = frozenset(TERMINAL.values())
PAUSED_STATUS = frozenset({5, 6})
SUPPLEMENT = "supplement"
_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Allowance:
    """A limit resolved against a calendar: working seconds, or calendar days."""

    working: int | None
    days: float | None

    @classmethod
    def of(cls, limit: Limit, calendar: WorkingCalendar) -> "Allowance":
        """Resolve `limit` on `calendar`."""
        if limit.unit is LimitUnit.calendar_days:
            return cls(None, limit.value)
        return cls(calendar.working_seconds(limit.value, limit.unit.value), None)

    def minutes(self) -> int:
        """Allowance in working minutes (calendar-day limits count whole days of 24 h)."""
        if self.working is not None:
            return self.working // 60
        return round(self.days * 1440)  # type: ignore[operator]


@dataclass
class CompiledProcedure:
    """A procedure with its limits resolved on one calendar."""

    procedure: Procedure
    limit: Allowance
    steps: dict[str, tuple[int, Allowance, int]]
    """Step code → (position, allowance, allowed minutes)."""
    pauses: frozenset[str]

    @classmethod
    def compile(cls, procedure: Procedure, calendar: WorkingCalendar) -> "CompiledProcedure":
        """Resolve every limit of `procedure`."""
        steps = {}
        for index, step in enumerate(procedure.steps):
            allowance = Allowance.of(step.limit, calendar)
            steps[step.code] = (index, allowance, allowance.minutes())
        return cls(procedure, Allowance.of(procedure.limit, calendar), steps, frozenset(procedure.pauses))


@dataclass(slots=True)
class _Row:
    step: str
    from_unit: str | None
    unit: str | None
    start: int
    text: str
    end: int | None = None
    end_text: str | None = None


@dataclass
class Evaluator:
    """Evaluates dossiers against a procedure book on a working calendar."""

    procedures: ProcedureBook
    calendar: WorkingCalendar
    as_of: int = field(default_factory=lambda: int(datetime.now(timezone.utc).timestamp()))
    _compiled: dict[int, CompiledProcedure] = field(default_factory=dict, repr=False)
    _by_day: dict[tuple[str, int], CompiledProcedure] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.calendar_ref = {"name": self.calendar.name, "version": self.calendar.version}

    def compiled(self, case: Case) -> CompiledProcedure:
        """The compiled procedure version in force when `case` was received."""
        day = local_date(case.received)
        compiled = self._by_day.get((case.procedure, day))
        if compiled is None:
            received = _EPOCH + timedelta(days=day)
            procedure = self.procedures.lookup(case.procedure, received)
            compiled = self._compiled.get(id(procedure))
            if compiled is None:
                compiled = self._compiled[id(procedure)] = CompiledProcedure.compile(procedure, self.calendar)
            if len(self._by_day) < 100_000:
                self._by_day[(case.procedure, day)] = compiled
        return compiled

    def evaluate_record(self, record: object) -> dict:
        """Evaluate one decoded case-log line; raises RecordError with every reason."""
        case = parse_case(record)
        try:
            compiled = self.compiled(case)
        except ProcedureError as exc:
            raise RecordError([f"procedure: {exc}"]) from None
        try:
            return self.evaluate_case(case, compiled)
        except ValueError as exc:  # calendar range and similar
            raise RecordError([f"evaluation: {exc}"]) from None

    def evaluate(self, dossier: Dossier) -> Evidence:
        """Typed API: evaluate a :class:`Dossier` into :class:`Evidence`."""
        record = dossier.model_dump(mode="json", exclude_none=True)
        return Evidence.model_validate(self.evaluate_record(record))

    # -- the evaluation itself ----------------------------------------------------------------
    def evaluate_case(self, case: Case, proc: CompiledProcedure) -> dict:
        """Build the evidence dict of one parsed case."""
        cal = self.calendar
        pauses = self._pauses(case.events, proc.pauses)
        rows, unknown, out_of_order = self._rows(case, proc)
        nonconformities: list[dict] = []
        paused_working = sum(cal.between(start, end) for start, end in pauses)
        paused_seconds = sum(end - start for start, end in pauses)
        computed = self._due(case.received, proc.limit)
        due = case.due if case.due is not None else computed
        if proc.limit.working is not None:
            effective = cal.instant_at(cal.worked(due) + paused_working) if paused_working else due
        else:
            effective = due + paused_seconds
        finish, finish_text = self._finish(case.events, case.status)
        verdict = self._verdict(case, finish, effective, pauses)
        # A refused/withdrawn/stopped dossier is over: a step it never closed is measured up to
        # its last event and left unjudged, not found overdue against `as_of`.
        closed_at = case.events[-1].at if verdict in TERMINAL_VERDICTS and case.events else None
        steps = [self._step(row, proc, pauses, nonconformities, closed_at) for row in rows]

        self._dossier_nonconformities(
            case, proc, verdict, effective, computed, rows, nonconformities
        )
        for code in unknown:
            nonconformities.append(
                {"kind": "unknown_step", "step": code, "detail": f"step {code!r} is not in procedure {case.procedure}"}
            )
        for code, previous in out_of_order:
            nonconformities.append(
                {"kind": "out_of_order", "step": code, "detail": f"entered after {previous!r} without sent_back"}
            )
        return {
            "dossier": case.dossier,
            "procedure": case.procedure,
            "agency": case.agency,
            "channel": case.channel,
            "received_at": case.received_text,
            "status": case.status,
            "verdict": verdict,
            "due_at": format_instant(effective),
            "computed_due_at": format_instant(computed),
            "finished_at": finish_text,
            "paused_minutes": paused_working // 60,
            "steps": steps,
            "nonconformities": nonconformities,
            "calendar": self.calendar_ref,
        }

    def _due(self, start: int, allowance: Allowance) -> int:
        if allowance.working is not None:
            return self.calendar.add(start, allowance.working)
        return self.calendar.add_calendar_days(start, allowance.days)  # type: ignore[arg-type]

    def _pauses(self, events: list[CaseEvent], reasons: frozenset[str]) -> list[tuple[int, int]]:
        """Intervals during which the clock stood still (an open pause ends at `as_of`)."""
        intervals: list[tuple[int, int]] = []
        opened: int | None = None
        closing = ""
        for event in events:
            kind = event.kind
            if opened is None:
                if kind == "supplement_requested":
                    opened, closing = event.at, "supplement_received"
                elif kind == "paused" and event.reason in reasons:
                    opened, closing = event.at, "resumed"
            elif kind == closing:
                intervals.append((opened, event.at))
                opened = None
        if opened is not None:
            intervals.append((opened, max(opened, self.as_of)))
        return intervals

    def _rows(self, case: Case, proc: CompiledProcedure):
        """Split the case log into steps (one row per entry), noting unknown and out-of-order steps."""
        rows: list[_Row] = []
        unknown: list[str] = []
        out_of_order: list[tuple[str, str]] = []
        current: _Row | None = None
        resolved: CaseEvent | None = None
        first_step = proc.procedure.steps[0].code
        for event in case.events:
            kind = event.kind
            if kind in ENTERING:
                code = event.step or (first_step if kind == "received" else None)
                if code is None:
                    continue
                if current is not None:
                    current.end, current.end_text = event.at, event.text
                    self._check_order(current.step, code, kind, proc, out_of_order)
                if code not in proc.steps and code not in unknown:
                    unknown.append(code)
                current = _Row(code, event.from_unit, event.unit, event.at, event.text)
                rows.append(current)
            elif kind == "returned" or kind in TERMINAL:
                if current is not None and current.end is None:
                    current.end, current.end_text = event.at, event.text
            elif kind == "resolved":
                resolved = event
        if current is not None and current.end is None and resolved is not None and resolved.at >= current.start:
            current.end, current.end_text = resolved.at, resolved.text
        return rows, unknown, out_of_order

    @staticmethod
    def _check_order(previous: str, code: str, kind: str, proc: CompiledProcedure, found: list) -> None:
        if kind != "handover" or previous not in proc.steps or code not in proc.steps:
            return
        if proc.steps[code][0] < proc.steps[previous][0]:
            found.append((code, previous))

    def _step(self, row: _Row, proc: CompiledProcedure, pauses, nonconformities: list[dict],
              closed_at: int | None = None) -> dict:
        cal = self.calendar
        worked = cal.worked
        start, finished = row.start, row.end
        if finished is None:
            until = self.as_of if closed_at is None else closed_at
            end = until if until > start else start
        else:
            end = finished
        start_worked = worked(start)
        paused_working = paused_seconds = 0
        for low, high in pauses:
            if low < start:
                low = start
            if high > end:
                high = end
            if high > low:
                paused_working += worked(high) - worked(low)
                paused_seconds += high - low
        used = (worked(end) - start_worked - paused_working) // 60
        known = proc.steps.get(row.step)
        if known is None:
            return {"step": row.step, "from_unit": row.from_unit, "unit": row.unit, "started_at": row.text,
                    "finished_at": row.end_text, "due_at": None, "allowed_minutes": None,
                    "used_minutes": used, "verdict": None}
        allowance = known[1]
        if allowance.working is not None:
            due = cal.instant_at(start_worked + allowance.working + paused_working)
        else:
            due = cal.add_calendar_days(start, allowance.days) + paused_seconds  # type: ignore[arg-type]
        if finished is None:
            verdict = "open_overdue" if closed_at is None and self.as_of > due else "open"
        elif finished > due:
            verdict = "late"
        elif (finished + _OFFSET) // DAY < (due + _OFFSET) // DAY:
            verdict = "early"
        else:
            verdict = "on_time"
        due_text = format_instant(due)
        if verdict == "late" or verdict == "open_overdue":
            state = "finished" if finished is not None else "still open"
            nonconformities.append(
                {"kind": "late_step", "step": row.step, "detail": f"{state} after its due {due_text}"}
            )
        return {"step": row.step, "from_unit": row.from_unit, "unit": row.unit, "started_at": row.text,
                "finished_at": row.end_text, "due_at": due_text, "allowed_minutes": known[2],
                "used_minutes": used, "verdict": verdict}

    @staticmethod
    def _finish(events: list[CaseEvent], status: int) -> tuple[int | None, str | None]:
        for event in events:
            if event.kind == "resolved":
                return event.at, event.text
        if status in (9, 10):
            for event in events:
                if event.kind == "returned":
                    return event.at, event.text
        return None, None

    def _verdict(self, case: Case, finish: int | None, due: int, pauses) -> str:
        for event in case.events:
            if event.kind in TERMINAL:
                return TERMINAL[event.kind]
        if case.status in TERMINAL_STATUS:
            return TERMINAL_STATUS[case.status]
        if finish is not None:
            finish_day, due_day = local_date(finish), local_date(due)
            return "early" if finish_day < due_day else "on_time" if finish_day == due_day else "late"
        if case.status in PAUSED_STATUS or (pauses and pauses[-1][1] >= self.as_of):
            return "paused"
        return "open_overdue" if self.as_of > due else "open_on_time"

    def _dossier_nonconformities(self, case, proc, verdict, due, computed, rows, found) -> None:
        cal = self.calendar
        if verdict in ("late", "open_overdue"):
            found.append({"kind": "late_dossier", "step": None, "detail": f"{verdict} against due {format_instant(due)}"})
            apologies = [e.at for e in case.events if e.kind == "apology_issued"]
            if not any(cal.between(at, due) >= cal.day_seconds for at in apologies):
                found.append({
                    "kind": "late_without_timely_apology",
                    "step": None,
                    "detail": "no apology issued at least one working day before the due",
                })
        apology_count = sum(1 for e in case.events if e.kind == "apology_issued")
        if apology_count > 1:
            found.append({
                "kind": "reschedule_limit_exceeded",
                "step": None,
                "detail": f"{apology_count} apologies; the appointment may be moved only once",
            })
        if verdict in ("early", "on_time", "late"):
            entered = {row.step for row in rows}
            for step in proc.procedure.steps:
                if not step.optional and step.code not in entered:
                    found.append({"kind": "missing_step", "step": step.code, "detail": f"step {step.code!r} ({step.name}) never entered"})
        if case.due is not None and abs(cal.between(computed, case.due)) > 3600:
            found.append({
                "kind": "due_date_mismatch",
                "step": None,
                "detail": f"appointment {format_instant(case.due)} differs from computed due {format_instant(computed)}",
            })
