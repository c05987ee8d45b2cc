"""Streaming aggregation of evidence into the quality-objective report (Decision 766 counts).

:func:`aggregate` takes any iterable of evidence dicts (a file, the ledger), one per dossier
(its latest revision), and keeps only counters plus the first rows of the tracking ledger and
the nonconformity list: memory does not grow with the number of dossiers. Full ledger and
nonconformity lists can be streamed to CSV writers while aggregating.

Counting for a period [start, end] (local days, inclusive), after Decision 766/QĐ-TTg as the
national portal counts it (:class:`CountingRules` says how withdrawn and refused dossiers and the
day granularity are treated): received in the period vs carried over; finished in the period early
/ on time / late; still open at the end on time (due ≥ end) or overdue; paused; refused /
withdrawn / stopped when received in the period and not counted otherwise by the rules. Dossiers
finished before the start or received after the end are out of scope.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..models import IndicatorSummary as Counts
from .agencies import CountingRules
from .timefmt import local, local_day
from .units import basis
from .wording import nonconformity_detail

FINISHED = ("early", "on_time", "late")
TERMINAL = ("refused", "withdrawn", "stopped")
VERDICTS = frozenset(FINISHED + TERMINAL + ("open_on_time", "open_overdue", "paused"))
REQUIRED = ("dossier", "procedure", "received_at", "verdict", "steps", "nonconformities")
OTHER = "(khác)"
MAX_KEYS = 2000


@dataclass
class Minutes:
    """Finished step rows of one time basis and their minutes, all in that basis's unit."""

    rows: int = 0
    used: int = 0
    allowed: int = 0


@dataclass
class Lateness:
    """Step rows handled and how many ran late, for one step or unit.

    Minutes are summed per time basis (`working`, `calendar`; `v1` for rows of evidence version 1,
    whose used minutes are working minutes and whose limits may be calendar minutes), never mixed.
    """

    rows: int = 0
    late: int = 0
    minutes: dict[str, Minutes] = field(default_factory=dict)

    @property
    def late_rate(self) -> float:
        """Late rows / rows."""
        return self.late / self.rows if self.rows else 0.0


@dataclass
class Period:
    """Inclusive local-day bounds ('YYYY-MM-DD'); None is open-ended."""

    start: str | None = None
    end: str | None = None


@dataclass
class ReportData:
    """Everything the report shows, aggregated."""

    period: Period
    agency: str | None = None
    rules: CountingRules = field(default_factory=CountingRules)
    total: Counts = field(default_factory=Counts)
    by_channel: dict[str, Counts] = field(default_factory=dict)
    by_agency: dict[str, Counts] = field(default_factory=dict)
    by_month: dict[str, Counts] = field(default_factory=dict)
    """Dossiers finished, by local month of finishing ('YYYY-MM')."""
    by_step: dict[tuple[str, str], Lateness] = field(default_factory=dict)
    """(procedure, step code) → lateness."""
    by_unit: dict[str, Lateness] = field(default_factory=dict)
    nonconformity_kinds: dict[str, int] = field(default_factory=dict)
    nonconformities: list[dict] = field(default_factory=list)
    ledger: list[dict] = field(default_factory=list)
    rejected: int = 0
    rejections: list[str] = field(default_factory=list)
    limit: int = 200


def _bucket(table: dict, key, factory):
    found = table.get(key)
    if found is None:
        if len(table) >= MAX_KEYS:
            key = OTHER if isinstance(key, str) else (OTHER, OTHER)
            found = table.get(key)
        if found is None:
            found = table[key] = factory()
    return found


def problems(evidence: object) -> list[str]:
    """Why an evidence record cannot be counted (empty when it can)."""
    if not isinstance(evidence, dict):
        return [f"expected an object, got {type(evidence).__name__}"]
    found = [f"{key}: missing" for key in REQUIRED if evidence.get(key) is None]
    if evidence.get("verdict") is not None and evidence["verdict"] not in VERDICTS:
        found.append(f"verdict: {evidence['verdict']!r} is not a dossier verdict")
    for key in ("steps", "nonconformities"):
        if key in evidence and not isinstance(evidence[key], list):
            found.append(f"{key}: expected a list")
    return found


def _withdrawn_at(evidence: dict) -> str:
    """When a withdrawn dossier ended: its finish, else the end of its last step, else its reception."""
    steps = evidence.get("steps") or []
    last = steps[-1].get("finished_at") if steps else None
    return evidence.get("finished_at") or last or evidence["received_at"]


def _by_dates(finished_at: str, due_at: str | None, rules: CountingRules) -> str:
    """Early / on time / late of a finish against the due, by local day or by the minute."""
    if not due_at:
        return "on_time"  # the portal: no appointment, on time
    finished, due = local_day(finished_at), local_day(due_at)
    if rules.granularity == "minute" and local(finished_at) > local(due_at):
        return "late"
    return "early" if finished < due else "on_time" if finished == due else "late"


def counted(evidence: dict, rules: CountingRules) -> tuple[str, str | None] | None:
    """(verdict to count, finishing instant) under the rules; None when the dossier is not counted."""
    verdict, finished_at = evidence["verdict"], evidence.get("finished_at")
    if verdict == "refused" and rules.refused == "excluded":
        return None
    if verdict == "withdrawn" and rules.withdrawn != "excluded":
        finished_at = _withdrawn_at(evidence)
        if rules.withdrawn == "on_time":
            return "on_time", finished_at
        return _by_dates(finished_at, evidence.get("due_at"), rules), finished_at
    if verdict in FINISHED and finished_at and rules.granularity == "minute":
        return _by_dates(finished_at, evidence.get("due_at"), rules), finished_at
    return verdict, finished_at


def outcome(evidence: dict, period: Period, rules: CountingRules | None = None) -> tuple[str, bool] | None:
    """(Decision 766 outcome at the period's end, received in the period?) or None when out of scope."""
    found = counted(evidence, rules or CountingRules())
    if found is None:
        return None
    verdict, finished_text = found
    received = local_day(evidence["received_at"])
    if period.end is not None and received > period.end:
        return None
    finished = local_day(finished_text)
    if period.start is not None and finished is not None and finished < period.start:
        return None
    in_period = period.start is None or received >= period.start
    if verdict in TERMINAL:
        return (verdict, True) if in_period else None
    if verdict in FINISHED and finished is not None and (period.end is None or finished <= period.end):
        return verdict, in_period
    if verdict == "paused":
        return "paused", in_period
    if period.end is None:
        return (verdict if verdict in ("open_on_time", "open_overdue") else "open_on_time"), in_period
    due = local_day(evidence.get("due_at"))
    return ("open_on_time" if due is None or due >= period.end else "open_overdue"), in_period


class Aggregator:
    """Feeds evidence dicts into a :class:`ReportData`, one at a time."""

    def __init__(self, period: Period, agency: str | None = None, limit: int = 200,
                 ledger_out: Callable[[dict], None] | None = None,
                 nonconformity_out: Callable[[dict], None] | None = None,
                 rules: CountingRules | None = None, names=None):
        self.data = ReportData(period, agency, rules=rules or CountingRules(), limit=limit)
        self.names = names
        self.ledger_out = ledger_out
        self.nonconformity_out = nonconformity_out

    def reject(self, where: str, reasons: list[str]) -> None:
        """Count a record that cannot be used, keeping the first reasons for the report."""
        self.data.rejected += 1
        if len(self.data.rejections) < 20:
            self.data.rejections.append(f"{where}: {'; '.join(reasons)}")

    def add(self, evidence: dict, where: str = "") -> None:
        """Count one evidence record (rejects it, with the reason, when malformed)."""
        reasons = problems(evidence)
        if not reasons and self.data.agency is not None and evidence.get("agency") != self.data.agency:
            return
        try:
            if not reasons:
                self._add(evidence)
                return
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            reasons = [f"{type(exc).__name__}: {exc}"]
        self.reject(where or f"dossier {evidence.get('dossier') if isinstance(evidence, dict) else '?'}", reasons)

    def _add(self, evidence: dict) -> None:
        data = self.data
        found = outcome(evidence, data.period, data.rules)
        if found is None:
            return
        result, in_period = found
        channel = evidence.get("channel") or "direct"
        found_ncs = evidence["nonconformities"]
        for counts in (data.total, _bucket(data.by_channel, channel, Counts),
                       _bucket(data.by_agency, evidence.get("agency") or "", Counts)):
            counts.count(result, in_period, channel, len(found_ncs))
        if result in FINISHED:
            month = local_day(counted(evidence, data.rules)[1])[:7]
            _bucket(data.by_month, month, Counts).count(result, in_period, channel, len(found_ncs))
        self._steps(evidence)
        self._rows(evidence, result, found_ncs)

    def _steps(self, evidence: dict) -> None:
        procedure, version = evidence["procedure"], evidence.get("schema_version")
        for row in evidence["steps"]:
            verdict = row.get("verdict")
            if verdict is None or verdict == "open":
                continue
            late = verdict in ("late", "open_overdue")
            unit = basis(row, version) or "v1"
            for table, key in ((self.data.by_step, (procedure, row["step"])),
                               (self.data.by_unit, row.get("unit") or "")):
                stats = _bucket(table, key, Lateness)
                stats.rows += 1
                stats.late += late
                if verdict != "open_overdue":
                    minutes = stats.minutes.get(unit)
                    if minutes is None:
                        minutes = stats.minutes[unit] = Minutes()
                    minutes.rows += 1
                    minutes.used += row.get("used_minutes") or 0
                    minutes.allowed += row.get("allowed_minutes") or 0

    def _rows(self, evidence: dict, result: str, found_ncs: list[dict]) -> None:
        data = self.data
        finished = counted(evidence, data.rules)
        entry = {
            "dossier": evidence["dossier"], "procedure": evidence["procedure"],
            "agency": evidence.get("agency") or "", "channel": evidence.get("channel") or "direct",
            "received_at": evidence["received_at"], "due_at": evidence.get("due_at"),
            "finished_at": finished[1] if finished else evidence.get("finished_at"), "outcome": result,
            "nonconformities": len(found_ncs),
        }
        if len(data.ledger) < data.limit:
            data.ledger.append(entry)
        if self.ledger_out is not None:
            self.ledger_out(entry)
        for nc in found_ncs:
            kind = nc.get("kind", "")
            data.nonconformity_kinds[kind] = data.nonconformity_kinds.get(kind, 0) + 1
            row = {"dossier": entry["dossier"], "procedure": entry["procedure"], "agency": entry["agency"],
                   "kind": kind, "step": nc.get("step"), "detail": nonconformity_detail(nc, evidence, self.names)}
            if len(data.nonconformities) < data.limit:
                data.nonconformities.append(row)
            if self.nonconformity_out is not None:
                self.nonconformity_out(row)


def aggregate(evidence: Iterable[dict], period: Period | None = None, agency: str | None = None,
              limit: int = 200, **options) -> ReportData:
    """Aggregate evidence dicts (one per dossier) for a period and, optionally, one agency.

    `options`: ledger_out, nonconformity_out (row writers), rules (:class:`CountingRules`), names.
    """
    aggregator = Aggregator(period or Period(), agency, limit, **options)
    for record in evidence:
        aggregator.add(record)
    return aggregator.data
