"""Why a dossier got its verdict: the record, where each event came from, each due's computation
and the counting rule behind every verdict and nonconformity (`isobridge explain`).

The computation is redone with the calendar's own API (`allowance`, `paused`, `due`, `between`,
`moved`) and the engine's pauses, and set beside the stored evidence: where the two differ (the
evidence was made with another procedure, calendar or `--as-of`), the explanation says so.
The shape of :func:`explain` is documented in docs/evidence-outputs.md (`explain_version` 1).
"""

from __future__ import annotations

from datetime import date, datetime

from ..calendar import CALENDAR, UTC_OFFSET, DAY, Allowance, WorkingCalendar, format_instant
from ..engine import TERMINAL_VERDICTS, Evaluator
from ..errors import IsobridgeError
from ..merge import HEADER_AT, KEPT_HEADER, SOURCE
from ..models import Procedure

EXPLAIN_VERSION = 1
"""Version of the `--json` shape."""
RULES = "docs/formats.md › Counting rules"
STEP_RULES = {
    "late": "late: finished after the due instant",
    "early": "early: finished on an earlier Vietnam-local date than the due's",
    "on_time": "on_time: finished neither after the due instant nor on an earlier date",
    "open_overdue": "open_overdue: unfinished, and --as-of is after the due",
    "open": "open: unfinished and not past its due (or the dossier ended: never judged overdue)",
}
VERDICT_RULES = {
    1: "Dossier verdict, rule 1: a refused, withdrawn or stopped event (or status 3, 7, 8) gives that verdict",
    2: ("Dossier verdict, rule 2: a finished dossier's finish date against the effective due date, by"
        " Vietnam-local day (Decision 766/QĐ-TTg): earlier day early, same day on_time, later day late"),
    3: "Dossier verdict, rule 3: not finished, and status 5 or 6 or a pause still open at --as-of: paused",
    4: "Dossier verdict, rule 4: not finished: open_overdue when --as-of is after the effective due, else open_on_time",
}
NONCONFORMITY_RULES = {
    "late_step": "one per late or open_overdue step row",
    "late_dossier": "the dossier verdict is late or open_overdue",
    "late_without_timely_apology": ("the dossier is late and no apology_issued came at least one working"
                                    " day before the effective due"),
    "reschedule_limit_exceeded": "more than one apology_issued",
    "missing_step": "finished (early, on_time, late) and a non-optional step was never entered",
    "due_date_mismatch": "the appointment differs from computed_due_at by more than one working hour",
    "unknown_step": "a step code not in the procedure",
    "out_of_order": "a handover into a step earlier in the procedure than the one left",
}
NOT_KEPT = ("kept per dossier: the source and the key of the record that last changed it, and when it was"
            " first and last stored (each read is stored in the same run, right after it); per event: its"
            " source only: no record key and no read time per event")


def _at(text: str | None) -> int | None:
    return None if text is None else int(datetime.fromisoformat(text).timestamp())


def _limit(limit) -> dict:
    return {"value": limit.value, "unit": str(limit.unit)}


class Explainer:
    """Explains evidence on one procedure book and calendar (those of the deployment)."""

    def __init__(self, evaluator: Evaluator):
        self.evaluator = evaluator
        self.calendar: WorkingCalendar = evaluator.calendar

    def explain(self, evidence: dict, record: dict | None, origin: dict,
                evaluated: dict | None = None) -> dict:
        """The explanation of one dossier's `evidence`; `record` is its case record (None when not
        known), `evaluated` the record as evaluated (its authoritative events), `origin` where both
        were read."""
        procedure = self._procedure(evidence)
        self.unknown = "no case record given" if record is None else "no procedure version in force at reception"
        pauses = self._pauses(evaluated or record) if record is not None and procedure is not None else None
        ended_at = self._ended_at(evidence, record)
        return {
            "explain_version": EXPLAIN_VERSION,
            "dossier": evidence["dossier"],
            "origin": origin,
            "record": _header(record),
            "events": _events(record, evaluated, origin),
            "procedure": _procedure_part(procedure, evidence),
            "calendar": {"name": self.calendar.name, "version": self.calendar.version,
                         "evidence": evidence.get("calendar"),
                         "same": evidence.get("calendar") == {"name": self.calendar.name,
                                                              "version": self.calendar.version}},
            "pauses": None if pauses is None else [self._pause(low, high) for low, high in pauses],
            "due": self._due(evidence, record, procedure, pauses),
            "steps": [self._step(row, procedure, pauses, ended_at) for row in evidence.get("steps", [])],
            "verdict": self._verdict(evidence),
            "nonconformities": [{**item, "rule": f"{RULES} › Nonconformities › {item['kind']}: "
                                 + NONCONFORMITY_RULES.get(item["kind"], "not a documented kind")}
                                for item in evidence.get("nonconformities", [])],
        }

    # -- parts -------------------------------------------------------------------------------
    def _procedure(self, evidence: dict) -> Procedure | None:
        received = datetime.fromisoformat(evidence["received_at"])
        day = date.fromordinal((int(received.timestamp()) + UTC_OFFSET) // DAY + date(1970, 1, 1).toordinal())
        try:
            return self.evaluator.procedures.lookup(evidence["procedure"], day)
        except IsobridgeError:
            return None

    def _pauses(self, record: dict) -> list[tuple[int, int]] | None:
        try:
            return self.evaluator.pauses_of(record)
        except IsobridgeError as exc:
            reasons = getattr(exc, "errors", None) or [str(exc)]
            self.unknown = f"the case record cannot be evaluated ({'; '.join(reasons)})"
            return None

    def _ended_at(self, evidence: dict, record: dict | None) -> int:
        """Where an unfinished row is measured to: the last event of an ended dossier, else --as-of."""
        if evidence.get("verdict") in TERMINAL_VERDICTS and record and record.get("events"):
            return max(_at(event["at"]) for event in record["events"] if event.get("at"))
        return self.evaluator.as_of

    def _pause(self, low: int, high: int) -> dict:
        cal = self.calendar
        return {"from": format_instant(low), "to": format_instant(high),
                "working_minutes": max(0, cal.between(low, high)) // 60, "elapsed_minutes": max(0, high - low) // 60}

    def _allowance(self, limit) -> Allowance:
        return self.calendar.allowance(limit)

    def _due(self, evidence: dict, record: dict | None, procedure: Procedure | None,
             pauses: list[tuple[int, int]] | None) -> dict:
        found = {"rule": f"{RULES} › Dossier due", "received_at": evidence["received_at"],
                 "evidence_computed_due_at": evidence.get("computed_due_at"),
                 "evidence_due_at": evidence.get("due_at"), "evidence_paused_minutes": evidence.get("paused_minutes")}
        if procedure is None:
            return {**found, "note": "the procedure version in force at reception is not in the procedure folder"}
        cal, allowance = self.calendar, self._allowance(procedure.limit)
        received = _at(evidence["received_at"])
        computed = cal.due(received, allowance)[1]
        appointment = record.get("due_at") if record else None
        found.update(limit=_limit(procedure.limit), time_basis=allowance.basis,
                     allowed_minutes=allowance.minutes, computed_due_at=computed,
                     appointment_due_at=appointment,
                     starts_from="appointment" if appointment else "computed_due_at",
                     apologies=[{"at": e.get("at"), "new_due_at": e.get("new_due_at")}
                                for e in (record or {}).get("events", []) if e.get("kind") == "apology_issued"])
        if pauses is None:
            found["note"] = (f"{self.unknown}: the pauses and the appointment are unknown, only the evidence's"
                             " paused minutes and due are shown")
            return found
        paused = cal.paused(allowance, pauses)
        base = _at(appointment) if appointment else _at(computed)
        due = format_instant(cal.moved(base, allowance, paused))
        found.update(paused_minutes=paused // 60, due_at=due,
                     agrees=due == evidence.get("due_at") and computed == evidence.get("computed_due_at"))
        return found

    def _step(self, row: dict, procedure: Procedure | None, pauses: list[tuple[int, int]] | None,
              ended_at: int) -> dict:
        found = {key: row.get(key) for key in ("step", "from_unit", "unit", "started_at", "finished_at")}
        found.update(evidence_due_at=row.get("due_at"), evidence_allowed_minutes=row.get("allowed_minutes"),
                     evidence_used_minutes=row.get("used_minutes"), time_basis=row.get("time_basis", "working"),
                     verdict=row.get("verdict"))
        if row.get("verdict") is not None:
            found["rule"] = (f"{RULES} › Steps › Verdicts › {STEP_RULES.get(row['verdict'], 'not a documented verdict')}"
                             f" — here: {self._step_reason(row)}")
        step = next((s for s in procedure.steps if s.code == row["step"]), None) if procedure else None
        if procedure is None:
            return {**found, "note": "no procedure version in force at reception: nothing recomputed"}
        if step is None:
            return {**found, "rule": f"{RULES} › Steps: a step not in the procedure has no due and no verdict"}
        cal, allowance = self.calendar, self._allowance(step.limit)
        start = _at(row["started_at"])
        end = _at(row["finished_at"]) if row.get("finished_at") else max(start, ended_at)
        found.update(name=step.name, limit=_limit(step.limit), time_basis=allowance.basis,
                     allowed_minutes=allowance.minutes)
        if pauses is None:
            due = cal.due(start, allowance)[1]
            found.update(due_without_pauses=due, pauses_taken_out=None,
                         note=f"{self.unknown}: pauses inside the row unknown")
        else:
            inside = [(max(low, start), min(high, end)) for low, high in pauses if min(high, end) > max(low, start)]
            paused = cal.paused(allowance, inside)
            counted = (end - start if allowance.basis == CALENDAR else cal.between(start, end)) - paused
            due = cal.due(start, allowance, inside)[1]
            found.update(pauses_taken_out=[{**self._pause(low, high), "minutes": cal.paused(allowance, [(low, high)]) // 60}
                                           for low, high in inside],
                         paused_minutes=paused // 60, counted_minutes=counted // 60,
                         measured_to=format_instant(end), due_at=due, agrees=due == row.get("due_at"))
        return found

    @staticmethod
    def _step_reason(row: dict) -> str:
        due, finished, verdict = row.get("due_at"), row.get("finished_at"), row.get("verdict")
        if verdict == "late":
            return f"finished {finished} after its due {due}"
        if verdict == "early":
            return f"finished {finished}, on a day before its due's day {due[:10]}"
        if verdict == "on_time":
            return f"finished {finished}, by its due {due} or on its day"
        if verdict == "open_overdue":
            return f"not finished, and --as-of is after its due {due}"
        return f"not finished, due {due}" + (" (the dossier ended: never judged overdue)" if verdict == "open" else "")

    def _verdict(self, evidence: dict) -> dict:
        verdict, due, finished = evidence["verdict"], evidence.get("due_at"), evidence.get("finished_at")
        if verdict in TERMINAL_VERDICTS:
            return {"verdict": verdict, "rule": f"{RULES} › {VERDICT_RULES[1]}", "detail": f"the dossier was {verdict}"}
        if verdict in ("early", "on_time", "late"):
            relation = {"early": "before", "on_time": "on", "late": "after"}[verdict]
            detail = f"finished on {finished[:10]}, {relation} the effective due's day {due[:10]} (due {due})"
            return {"verdict": verdict, "rule": f"{RULES} › {VERDICT_RULES[2]}", "detail": detail}
        if verdict == "paused":
            return {"verdict": verdict, "rule": f"{RULES} › {VERDICT_RULES[3]}",
                    "detail": f"status {evidence.get('status')}, or a pause still open"}
        at = format_instant(self.evaluator.as_of)
        return {"verdict": verdict, "rule": f"{RULES} › {VERDICT_RULES[4]}",
                "detail": f"not finished; effective due {due}; explained as of {at}"}


def _header(record: dict | None) -> dict | None:
    if record is None:
        return None
    return {name: record.get(name) for name in ("dossier", *KEPT_HEADER) if record.get(name) is not None}


def _events(record: dict | None, evaluated: dict | None, origin: dict) -> list[dict] | None:
    """Each stored event with its source and whether the evaluation used it (see StepAuthority)."""
    if record is None:
        return None
    used = {id(event) for event in (evaluated or record).get("events", [])}
    where = origin.get("where", "")
    return [{**event, SOURCE: event.get(SOURCE) or where or "(not recorded)", "evaluated": id(event) in used}
            for event in record.get("events", [])]


def _procedure_part(procedure: Procedure | None, evidence: dict) -> dict:
    if procedure is None:
        return {"code": evidence["procedure"], "note": "no version of it in force at reception in the procedure folder"}
    return {"code": procedure.code, "name": procedure.name, "version": procedure.version,
            "effective_from": procedure.effective_from.isoformat() if procedure.effective_from else None,
            "limit": _limit(procedure.limit), "pauses": list(procedure.pauses),
            "rule": f"{RULES} › Dossier due: the version in force on the reception date"}


def header_times(record: dict | None) -> dict:
    """Per header field, the instant of the fragment its value came from (ledger records only)."""
    return {name: format_instant(at) for name, at in (record or {}).get(HEADER_AT, {}).items() if at > 0}
