"""The conformity engine: a dossier's case log against its ISO procedure and a working calendar.

`Evaluator.evaluate_line` is the hot path (a JSON line in, evidence dict out),
`Evaluator.evaluate_record` takes a decoded line, and `evaluate` is the typed API over the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import NamedTuple

import orjson

from .calendar import DAY, UTC_OFFSET, WORKING, Allowance, WorkingCalendar, format_instant
from .caselog import Case, CaseEvent, RecordError, decode_case, parse_case
from .models import Dossier, Evidence, Procedure
from .procedures import ProcedureBook, ProcedureError

ENTERING = frozenset({"received", "handover", "sent_back"})
TERMINAL = {"refused": "refused", "withdrawn": "withdrawn", "stopped": "stopped"}
TERMINAL_STATUS = {3: "refused", 7: "withdrawn", 8: "stopped"}
TERMINAL_VERDICTS = frozenset(TERMINAL.values())
PAUSED_STATUS = frozenset({5, 6})
EVIDENCE_SCHEMA_VERSION = 2
"""2: every step row says what its minutes count (`time_basis`); 1 (no field): working minutes used,
allowed minutes of a calendar-day limit counted as 1440 a day."""
FINISHED_STATUS = frozenset({9, 10})
"""National statuses of a resolved dossier (9 resolved, awaiting return; 10 result returned)."""
_EPOCH = date(1970, 1, 1)
_NO_INSTANT = -(1 << 62)
"""Stands for "no instant known" where an instant is expected (no timestamp is that far back)."""


@dataclass
class CompiledProcedure:
    """A procedure with its limits resolved on one calendar."""

    procedure: Procedure
    limit: Allowance
    steps: dict[str, tuple[int, Allowance]]
    """Step code → (position, allowance)."""
    allowances: dict[str, Allowance]
    """Step code → allowance (what the step rows read)."""
    pauses: frozenset[str]
    first_step: str = ""
    """The code of the step a `received` event without a step enters."""
    required: tuple[tuple[str, str], ...] = ()
    """(code, name) of every non-optional step, in order."""
    required_codes: frozenset[str] = frozenset()
    """The codes of `required`, to check them all at once."""

    @classmethod
    def compile(cls, procedure: Procedure, calendar: WorkingCalendar) -> "CompiledProcedure":
        """Resolve every limit of `procedure`."""
        steps = {step.code: (index, calendar.allowance(step.limit)) for index, step in enumerate(procedure.steps)}
        required = tuple((step.code, step.name) for step in procedure.steps if not step.optional)
        allowances = {code: allowance for code, (_, allowance) in steps.items()}
        return cls(procedure, calendar.allowance(procedure.limit), steps, allowances, frozenset(procedure.pauses),
                   procedure.steps[0].code, required, frozenset(code for code, _ in required))


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
        self._tables = self.calendar.tables()[:4]
        """What `_steps` needs to inline `worked()`: first day, is_working, base, elapsed."""

    def compiled(self, case: Case) -> CompiledProcedure:
        """The compiled procedure version in force when `case` was received."""
        day = (case.received + UTC_OFFSET) // DAY  # local_date, inlined
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
        return self.evaluate_parsed(parse_case(record))

    def evaluate_line(self, line: bytes | memoryview) -> tuple[dict, int]:
        """Evaluate one case-log JSON line into (evidence, event count); raises RecordError."""
        try:
            case = decode_case(line)
        except orjson.JSONDecodeError as exc:
            raise RecordError([f"invalid JSON: {exc}"]) from None
        return self.evaluate_parsed(case), len(case.events)

    def evaluate_parsed(self, case: Case) -> dict:
        """Evaluate a validated case; raises RecordError when it cannot be evaluated."""
        try:  # the cache `compiled` fills, read here first (a call costs more than the lookup)
            compiled = self._by_day.get((case.procedure, (case.received + UTC_OFFSET) // DAY)) or self.compiled(case)
        except ProcedureError as exc:
            raise RecordError([f"procedure: {exc}"]) from None
        except (OverflowError, ValueError) as exc:  # a date far outside any calendar
            raise RecordError([f"received_at: {exc}"]) from None
        try:
            return self.evaluate_case(case, compiled)
        except RecordError:
            raise
        except (ValueError, OverflowError) as exc:  # calendar range and similar
            raise RecordError([f"evaluation: {exc}"]) from None
        except Exception as exc:  # an engine defect must cost one record, never the run
            raise RecordError([f"evaluation failed: {type(exc).__name__}: {exc}"]) from None

    def evaluate(self, dossier: Dossier) -> Evidence:
        """Typed API: evaluate a :class:`Dossier` into :class:`Evidence`."""
        record = dossier.model_dump(mode="json", exclude_none=True)
        return Evidence.model_validate(self.evaluate_record(record))

    # -- the evaluation itself ----------------------------------------------------------------
    def evaluate_case(self, case: Case, proc: CompiledProcedure) -> dict:
        """Build the evidence dict of one parsed case."""
        cal = self.calendar
        trace = _trace(case.instants, case.events, proc, case.status)
        finish, finish_text = trace.finish
        if finish is None and case.status in FINISHED_STATUS and trace.terminal is None:
            raise RecordError([f"status: {case.status} says the dossier was resolved, but no `resolved` or"
                               " `returned` event says when; its verdict cannot be judged"])
        pauses = trace.pauses
        if trace.paused_since is not None:  # a pause still open stands until the dossier ended, or `as_of`
            pauses.append((trace.paused_since, max(trace.paused_since, self._pause_end(case, trace, finish))))
        worked = cal.worked
        paused_working = paused_seconds = 0
        for start, end in pauses:
            paused_working += worked(end) - worked(start)
            paused_seconds += end - start
        limit, received = proc.limit, case.received
        # The working time at `received` is kept: the first step usually starts then, and the
        # working time at `computed` is it plus the allowance (worked() of a due is what it counts).
        received_worked = computed_worked = None
        if limit.working is not None:
            received_worked = worked(received)
            computed_worked = received_worked + limit.working
        computed, computed_text, _ = cal.due_from(received, received_worked or 0, limit, 0)
        due = case.due if case.due is not None else computed
        if pauses:
            effective = cal.moved(due, limit, paused_seconds if limit.working is None else paused_working)
        else:
            effective = due
        verdict = self._verdict(case, trace, finish, effective, pauses)
        # A refused/withdrawn/stopped dossier is over: a step it never closed is measured up to
        # its last event and left unjudged, not found overdue against `as_of`.
        closed_at = case.instants[-1] if verdict in TERMINAL_VERDICTS and case.instants else None
        nonconformities: list[dict] = []
        steps = self._steps(trace.rows, proc, pauses, nonconformities, closed_at,
                            received if received_worked is not None else _NO_INSTANT, received_worked or 0)
        effective_text = computed_text if effective == computed else format_instant(effective)
        self._dossier_nonconformities(case, proc, verdict, effective, effective_text, computed, computed_text,
                                      computed_worked, trace, nonconformities)
        for code in trace.unknown:
            nonconformities.append(
                {"kind": "unknown_step", "step": code, "detail": f"step {code!r} is not in procedure {case.procedure}"}
            )
        for code, previous in trace.out_of_order:
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
            "due_at": effective_text,
            "computed_due_at": computed_text,
            "finished_at": finish_text,
            "paused_minutes": paused_working // 60,
            "steps": steps,
            "nonconformities": nonconformities,
            "calendar": self.calendar_ref,
            "schema_version": EVIDENCE_SCHEMA_VERSION,
        }

    def _steps(self, rows: list[list], proc: CompiledProcedure, pauses: list[tuple[int, int]],
               nonconformities: list[dict], closed_at: int | None, known_instant: int = _NO_INSTANT,
               known_worked: int = 0) -> list[dict]:
        """One process-control-sheet row per step entry, noting late steps.

        A step usually starts at the instant the previous one finished (the handover closes one
        step and opens the next) or, the first one, when the dossier was received, so the working
        time at that instant (`known_worked` at `known_instant`) is reused, not looked up again.
        """
        cal = self.calendar
        worked, due_from = cal.worked, cal.due_from
        first_day, is_working, base, elapsed = self._tables
        days = len(is_working)
        as_of, allowances = self.as_of, proc.allowances.get
        result: list[dict] = []
        append = result.append
        previous_end, previous_worked = known_instant, known_worked
        for step, from_unit, unit, start, text, finished, end_text in rows:
            if finished is None:
                until = as_of if closed_at is None else closed_at
                end = until if until > start else start
            else:
                end = finished
            start_worked = previous_worked if start == previous_end else worked(start)
            paused_working = paused_seconds = 0
            for low, high in pauses:
                if low < start:
                    low = start
                if high > end:
                    high = end
                if high > low:
                    paused_working += worked(high) - worked(low)
                    paused_seconds += high - low
            # previous_worked = worked(end), inlined (worked() itself raises outside the calendar)
            local = end + UTC_OFFSET
            index = local // DAY - first_day
            if 0 <= index < days:
                previous_worked = base[index] + elapsed[local % DAY] if is_working[index] else base[index]
            else:
                previous_worked = worked(end)
            previous_end = end
            used = (previous_worked - start_worked - paused_working) // 60
            allowance = allowances(step)
            if allowance is None:
                append({"step": step, "from_unit": from_unit, "unit": unit, "started_at": text,
                        "finished_at": end_text, "due_at": None, "allowed_minutes": None,
                        "used_minutes": used, "time_basis": WORKING, "verdict": None})
                continue
            if allowance.working is None:  # a calendar-day limit: used time in the same unit, calendar minutes
                used = (end - start - paused_seconds) // 60
                due, due_text, due_day = due_from(start, start_worked, allowance, paused_seconds)
            else:
                due, due_text, due_day = due_from(start, start_worked, allowance, paused_working)
            if finished is None:
                verdict = "open_overdue" if closed_at is None and as_of > due else "open"
            elif finished > due:
                verdict = "late"
            elif (finished + UTC_OFFSET) // DAY < due_day:
                verdict = "early"
            else:
                verdict = "on_time"
            if verdict == "late" or verdict == "open_overdue":
                state = "finished" if finished is not None else "still open"
                nonconformities.append(
                    {"kind": "late_step", "step": step, "detail": f"{state} after its due {due_text}"}
                )
            append({"step": step, "from_unit": from_unit, "unit": unit, "started_at": text,
                    "finished_at": end_text, "due_at": due_text, "allowed_minutes": allowance.minutes,
                    "used_minutes": used, "time_basis": allowance.basis, "verdict": verdict})
        return result

    def pauses_of(self, record: object) -> list[tuple[int, int]]:
        """The (start, end) instants of the pauses that stop a dossier's clock, exactly as
        :meth:`evaluate_case` counts them (a pause still open ends as `_pause_end` says); for
        `isobridge explain`, never on the hot path. Raises RecordError or ProcedureError."""
        case = parse_case(record)
        trace = _trace(case.instants, case.events, self.compiled(case), case.status)
        pauses = list(trace.pauses)
        if trace.paused_since is not None:
            pauses.append((trace.paused_since,
                           max(trace.paused_since, self._pause_end(case, trace, trace.finish[0]))))
        return pauses

    def _pause_end(self, case: Case, trace: "_Trace", finish: int | None) -> int:
        """Where a pause still open at the last event ends: at the finish of a resolved dossier,
        at the last event of a refused, withdrawn or stopped one, else at `as_of` (so the evidence
        of an ended dossier never changes with the day it is evaluated)."""
        if finish is not None:
            return finish
        if trace.terminal is not None or case.status in TERMINAL_STATUS:
            return case.instants[-1]
        return self.as_of

    def _verdict(self, case: Case, trace: "_Trace", finish: int | None, due: int,
                 pauses: list[tuple[int, int]]) -> str:
        if trace.terminal is not None:
            return trace.terminal
        if case.status in TERMINAL_STATUS:
            return TERMINAL_STATUS[case.status]
        if finish is not None:
            finish_day, due_day = (finish + UTC_OFFSET) // DAY, (due + UTC_OFFSET) // DAY
            return "early" if finish_day < due_day else "on_time" if finish_day == due_day else "late"
        if case.status in PAUSED_STATUS or (pauses and pauses[-1][1] >= self.as_of):
            return "paused"
        return "open_overdue" if self.as_of > due else "open_on_time"

    def _dossier_nonconformities(self, case, proc, verdict, due, due_text, computed, computed_text,
                                 computed_worked, trace, found) -> None:
        cal = self.calendar
        if verdict == "late" or verdict == "open_overdue":
            found.append({"kind": "late_dossier", "step": None, "detail": f"{verdict} against due {due_text}"})
            if not any(cal.between(at, due) >= cal.day_seconds for at in trace.apologies):
                found.append({
                    "kind": "late_without_timely_apology",
                    "step": None,
                    "detail": "no apology issued at least one working day before the due",
                })
        apology_count = len(trace.apologies)
        if apology_count > 1:
            found.append({
                "kind": "reschedule_limit_exceeded",
                "step": None,
                "detail": f"{apology_count} apologies; the appointment may be moved only once",
            })
        if (verdict == "early" or verdict == "on_time" or verdict == "late") and not proc.required_codes <= trace.entered:
            for code, name in proc.required:
                if code not in trace.entered:
                    found.append({"kind": "missing_step", "step": code, "detail": f"step {code!r} ({name}) never entered"})
        if case.due is not None:
            due_worked = cal.worked(case.due)
            if computed_worked is None:
                computed_worked = cal.worked(computed)
            if abs(due_worked - computed_worked) > 3600:
                found.append({
                    "kind": "due_date_mismatch",
                    "step": None,
                    "detail": f"appointment {format_instant(case.due)} differs from computed due {computed_text}",
                })


class _Trace(NamedTuple):
    """What one pass over a case log found (a tuple: built once per dossier, cheaply)."""

    rows: list[list]
    """Step entries: [step, from_unit, unit, start, text, end, end_text]."""
    entered: set[str]
    """The codes of `rows`."""
    pauses: list[tuple[int, int]]
    """Pauses that ended: (start, end)."""
    paused_since: int | None
    """The start of a pause that had not ended by the last event."""
    unknown: list[str]
    out_of_order: list[tuple[str, str]]
    apologies: list[int]
    terminal: str | None
    finish: tuple[int, str] | tuple[None, None]
    """Instant and text of the dossier's finish: its first `resolved` event, else (status 9/10) its
    first `returned` event; (None, None) when neither."""


_make_trace = tuple.__new__
"""Builds a :class:`_Trace` from a tuple of its fields, without the Python-level `__new__`."""


_NO_FINISH = (None, None)


def _trace(instants: list[int], events: list[CaseEvent], proc: CompiledProcedure, status: int) -> _Trace:
    """Walk the case log once: step rows, pauses, apologies, the terminal and finishing events."""
    rows: list[list] = []
    entered: set[str] = set()
    pauses: list[tuple[int, int]] = []
    unknown: list[str] = []
    out_of_order: list[tuple[str, str]] = []
    apologies: list[int] = []
    known, reasons = proc.steps, proc.pauses
    current: list | None = None
    terminal = first_resolved = first_returned = None
    last_resolved: tuple[int, str] | None = None
    opened: int | None = None
    closing = ""
    for at, event in zip(instants, events):
        kind = event.kind
        if kind in ENTERING:
            code = event.step or (proc.first_step if kind == "received" else None)
            if code is None:
                continue
            if current is not None:
                current[5], current[6] = at, event.at
                if kind == "handover" and code in known and current[0] in known \
                        and known[code][0] < known[current[0]][0]:
                    out_of_order.append((code, current[0]))
            if code not in known and code not in unknown:
                unknown.append(code)
            current = [code, event.from_unit, event.unit, at, event.at, None, None]
            rows.append(current)
            entered.add(code)
        elif kind == "returned" or kind in TERMINAL:
            if current is not None and current[5] is None:
                current[5], current[6] = at, event.at
            if kind == "returned":
                if first_returned is None:
                    first_returned = (at, event.at)
            elif terminal is None:
                terminal = TERMINAL[kind]
        elif kind == "resolved":
            last_resolved = (at, event.at)
            if first_resolved is None:
                first_resolved = last_resolved
        elif kind == "apology_issued":
            apologies.append(at)
        elif opened is None:
            if kind == "supplement_requested":
                opened, closing = at, "supplement_received"
            elif kind == "paused" and event.reason in reasons:
                opened, closing = at, "resumed"
        elif kind == closing:
            pauses.append((opened, at))
            opened = None
    if current is not None and current[5] is None and last_resolved is not None and last_resolved[0] >= current[3]:
        current[5], current[6] = last_resolved
    if first_resolved is not None:
        finish = first_resolved
    else:
        finish = first_returned if status in FINISHED_STATUS and first_returned is not None else _NO_FINISH
    return _make_trace(_Trace, (rows, entered, pauses, opened, unknown, out_of_order, apologies, terminal, finish))
