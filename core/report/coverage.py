"""Procedure coverage (mức độ bao phủ quy trình ISO): which administrative procedures an agency
handles have an ISO procedure in force, counted from the ledger's dossiers.

Every dossier of the period counts once for its agency and procedure (mã TTHC). It is *covered*
when a version of the ISO procedure with that code is in force on its reception date (the version
the engine evaluates it against). Per procedure the counter keeps the dossiers, the covered ones,
the first and the last reception day; per agency the coverage rate is the share of its procedures
whose every dossier was covered, beside the share of covered dossiers. Memory holds one counter
per agency and procedure (and a bounded cache of look-ups), never the records.

A record that cannot be counted (no procedure code or reception instant yet, a reception instant
that is no ISO 8601 instant) is counted as unusable and listed (the first :data:`LISTED`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from ..procedures import ProcedureBook, ProcedureError
from .aggregate import Period
from .timefmt import local_day

LISTED = 20
"""Unusable records named in the output (all are counted)."""


@dataclass
class ProcedureUse:
    """One procedure's dossiers at one agency in the period."""

    agency: str
    procedure: str
    dossiers: int = 0
    covered: int = 0
    first: str = ""
    last: str = ""
    after_cutoff: int = 0
    """Dossiers received on or after :attr:`cutoff` (the catalogue's abolition or replacement)."""
    last_after_cutoff: str = ""
    cutoff: str = ""

    @property
    def uncovered(self) -> int:
        """Dossiers received when no ISO procedure version was in force."""
        return self.dossiers - self.covered

    @property
    def state(self) -> str:
        """'covered' (every dossier), 'partly' or 'uncovered' (none)."""
        return "covered" if self.covered == self.dossiers else "partly" if self.covered else "uncovered"

    def count(self, day: str, covered: bool) -> None:
        """Count one dossier received on `day` (YYYY-MM-DD)."""
        self.dossiers += 1
        self.covered += covered
        self.first = min(self.first or day, day)
        self.last = max(self.last, day)
        if self.cutoff and day >= self.cutoff:
            self.after_cutoff += 1
            self.last_after_cutoff = max(self.last_after_cutoff, day)


@dataclass
class AgencyCoverage:
    """An agency's procedures and its coverage rates."""

    agency: str
    procedures: list[ProcedureUse]

    @property
    def dossiers(self) -> int:
        """Dossiers of the agency in the period."""
        return sum(use.dossiers for use in self.procedures)

    @property
    def covered_dossiers(self) -> int:
        """Dossiers with an ISO procedure version in force on their reception date."""
        return sum(use.covered for use in self.procedures)

    def with_state(self, state: str) -> list[ProcedureUse]:
        """Procedures in one state ('covered', 'partly', 'uncovered')."""
        return [use for use in self.procedures if use.state == state]

    @property
    def rate(self) -> float | None:
        """Share of the agency's procedures whose every dossier was covered (None: no dossier)."""
        return len(self.with_state("covered")) / len(self.procedures) if self.procedures else None

    @property
    def dossier_rate(self) -> float | None:
        """Share of the agency's dossiers that were covered (None: no dossier)."""
        return self.covered_dossiers / self.dossiers if self.dossiers else None


@dataclass
class Coverage:
    """Coverage of a period: counters by (agency, procedure), unusable records."""

    period: Period
    agency: str | None = None
    uses: dict[tuple[str, str], ProcedureUse] = field(default_factory=dict)
    unusable: int = 0
    unusable_listed: list[str] = field(default_factory=list)

    def agencies(self) -> list[AgencyCoverage]:
        """Every agency seen, by name, with its procedures by code."""
        found: dict[str, list[ProcedureUse]] = {}
        for key in sorted(self.uses):
            found.setdefault(key[0], []).append(self.uses[key])
        return [AgencyCoverage(agency, uses) for agency, uses in found.items()]


class InForce:
    """Whether a version of an ISO procedure is in force on a (local) day: the one rule of
    coverage, for `coverage` and the roll-up alike (cached, bounded)."""

    def __init__(self, book: ProcedureBook):
        self.book = book
        self._known: dict[tuple[str, str], bool] = {}

    def __call__(self, procedure: str, day: str) -> bool:
        key = (procedure, day)
        found = self._known.get(key)
        if found is None:
            try:
                self.book.lookup(procedure, date.fromisoformat(day))
                found = True
            except ProcedureError:
                found = False
            if len(self._known) > 100_000:
                self._known.clear()
            self._known[key] = found
        return found


class CoverageCounter:
    """Streams ledger records into a :class:`Coverage` (bounded memory).

    `cutoffs` maps a procedure code to the day (YYYY-MM-DD) from which its dossiers are counted
    apart (the catalogue's abolition or replacement date, for the drift findings).
    """

    def __init__(self, book: ProcedureBook, period: Period | None = None, agency: str | None = None,
                 cutoffs: dict[str, str] | None = None):
        self.coverage = Coverage(period or Period(), agency)
        self.cutoffs = cutoffs or {}
        self.in_force = InForce(book)

    def _unusable(self, dossier: str, reason: str) -> None:
        self.coverage.unusable += 1
        if len(self.coverage.unusable_listed) < LISTED:
            self.coverage.unusable_listed.append(f"{dossier}: {reason}")

    def add(self, dossier: str, record: dict) -> None:
        """Count one dossier (its merged record) when it was received in the period."""
        procedure, received = record.get("procedure"), record.get("received_at")
        if not isinstance(procedure, str) or not procedure:
            self._unusable(dossier, "no procedure code yet")
            return
        if not isinstance(received, str) or not received:
            self._unusable(dossier, "no reception instant yet")
            return
        try:
            day = local_day(received)
            date.fromisoformat(day)
        except (TypeError, ValueError) as exc:
            self._unusable(dossier, f"received_at: {exc}")
            return
        period, coverage = self.coverage.period, self.coverage
        if (period.start and day < period.start) or (period.end and day > period.end):
            return
        agency = str(record.get("agency") or "")
        if coverage.agency is not None and agency != coverage.agency:
            return
        key = (agency, procedure)
        use = coverage.uses.get(key)
        if use is None:
            use = coverage.uses[key] = ProcedureUse(agency, procedure, cutoff=self.cutoffs.get(procedure, ""))
        use.count(day, self.in_force(procedure, day))


def count_coverage(records: Iterable[tuple[str, str, dict, dict | None]], book: ProcedureBook,
                   period: Period | None = None, agency: str | None = None,
                   cutoffs: dict[str, str] | None = None) -> Coverage:
    """The coverage of the ledger's records (`Ledger.iter_records()`) received in the period."""
    counter = CoverageCounter(book, period, agency, cutoffs)
    for dossier, _state, record, _evidence in records:
        counter.add(dossier, record)
    return counter.coverage
