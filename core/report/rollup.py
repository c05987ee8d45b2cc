"""The province's view (báo cáo tổng hợp toàn tỉnh): every agency's counts over one or more inputs.

An input is a deployment's ledger (:meth:`Ledger.iter_records` streams it) or an evidence JSON
Lines file as `isobridge evaluate` writes it. One pass over each input feeds a :class:`Rollup`:
per period and agency only Decision 766 counters (:func:`aggregate.outcome`, as the report counts),
the sources that fed the agency and the newest instant recorded, never the evidence itself.

Coverage — the share of an agency's dossiers received in a period whose procedure had an ISO
procedure version in force on the local reception day — needs every stored dossier, also those the
ledger could not evaluate (state `failed`), and the deployment's procedure book:
:func:`agency_coverage_rates`. An evidence file holds evaluated dossiers only, so its coverage is
unknown (None), never 0 or 100 %.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from ..procedures import ProcedureBook
from .agencies import CountingRules
from .aggregate import MAX_KEYS, OTHER, Counts, Period, outcome, problems
from .coverage import InForce
from .timefmt import local, local_day

LEDGER, EVIDENCE = "ledger", "evidence"
"""The two kinds of input."""
MAX_REJECTIONS = 20


@dataclass
class Coverage:
    """Dossiers of one agency received in a period and how many had an ISO procedure in force then."""

    dossiers: int = 0
    covered: int = 0
    unknown: int = 0
    """Dossiers whose procedure code or reception time is not known yet (pending in the ledger)."""

    @property
    def rate(self) -> float | None:
        """Covered / dossiers whose procedure is known (None when there are none)."""
        known = self.dossiers - self.unknown
        return self.covered / known if known else None

    def merge(self, other: "Coverage") -> None:
        """Add another input's counts of the same agency."""
        self.dossiers += other.dossiers
        self.covered += other.covered
        self.unknown += other.unknown


def _in(period: Period, day: str) -> bool:
    return (period.start is None or day >= period.start) and (period.end is None or day <= period.end)


def agency_coverage_rates(records: Iterable[tuple[str, str, dict, dict | None]], book: ProcedureBook,
                          periods: Sequence[Period] = (Period(),)) -> list[dict[str, Coverage]]:
    """Per period, agency → :class:`Coverage` of the dossiers received in it.

    `records` are :meth:`Ledger.iter_records` tuples (dossier, state, merged record, evidence). A
    dossier is covered when `book.lookup` finds a version of its procedure in force on its local
    reception day; one without a reception time belongs to no period, one without a procedure code
    is counted as unknown."""
    found: list[dict[str, Coverage]] = [{} for _ in periods]
    in_force = InForce(book)
    for _, _, record, _ in records:
        try:
            day = local_day(record.get("received_at"))
        except (TypeError, ValueError):
            day = None
        if day is None:
            continue
        agency = str(record.get("agency") or "")
        code = record.get("procedure")
        covered = bool(code) and in_force(str(code), day)
        for period, table in zip(periods, found):
            if _in(period, day):
                coverage = table.get(agency) or table.setdefault(agency if len(table) < MAX_KEYS else OTHER, Coverage())
                coverage.dossiers += 1
                coverage.unknown += not code
                coverage.covered += covered
    return found


@dataclass
class SourceInput:
    """One input of the roll-up and when its data was last brought in.

    `synced`: for a ledger, each configured source's last sync (UTC ISO text, None when never):
    the later of its checkpoint's last move and the end of the last run that finished reading it."""

    name: str
    kind: str
    synced: dict[str, str | None] = field(default_factory=dict)


@dataclass
class Freshness:
    """How current one agency's data is: the stalest of its sources, and on what basis."""

    instant: str | None
    """Local ISO instant; None when no source says."""
    kind: str
    """LEDGER: the sources' last sync; EVIDENCE: the newest event recorded in the file."""
    sources: tuple[str, ...] = ()


def later(first: str | None, second: str | None) -> str | None:
    """The later of two ISO instants as local ISO text (None when both are None)."""
    texts = [_local(text) for text in (first, second) if text]
    return max(texts) if texts else None


def _local(text: str) -> str:
    """An ISO instant as local (UTC+7) ISO text to the second, comparable as text."""
    if text.endswith("+07:00") and len(text) >= 19:
        return text[:19] + "+07:00"
    return local(text).replace(tzinfo=None).isoformat(timespec="seconds") + "+07:00"


def _newest(evidence: dict) -> str | None:
    """The newest instant an evidence record holds: reception, steps, finish."""
    newest = later(None, evidence.get("finished_at"))
    newest = later(newest, evidence.get("received_at"))
    for row in evidence.get("steps") or ():
        if isinstance(row, dict):
            newest = later(later(newest, row.get("started_at")), row.get("finished_at"))
    return newest


@dataclass
class AgencyFacts:
    """What the roll-up keeps of one agency besides counts: its inputs, sources and newest instant."""

    sources: dict[str, set[str]] = field(default_factory=dict)
    """Input name → the ledger sources whose events fed this agency (empty for an evidence file)."""
    newest: dict[str, str | None] = field(default_factory=dict)
    """Input name → the newest instant in this agency's evidence of that input."""


class Rollup:
    """Counts per period and agency over every input, fed one record at a time."""

    def __init__(self, periods: Sequence[Period], rules: CountingRules | None = None):
        self.periods = list(periods)
        self.rules = rules or CountingRules()
        self.counts: list[dict[str, Counts]] = [{} for _ in self.periods]
        self.coverage: list[dict[str, Coverage]] = [{} for _ in self.periods]
        self.facts: dict[str, AgencyFacts] = {}
        self.inputs: list[SourceInput] = []
        self.rejected = 0
        self.rejections: list[str] = []

    def reject(self, where: str, reasons: list[str]) -> None:
        """Count a record that cannot be used, keeping the first reasons."""
        self.rejected += 1
        if len(self.rejections) < MAX_REJECTIONS:
            self.rejections.append(f"{where}: {'; '.join(reasons)}")

    def _facts(self, agency: str) -> tuple[str, AgencyFacts]:
        found = self.facts.get(agency)
        if found is None:
            if len(self.facts) >= MAX_KEYS:
                agency = OTHER
            found = self.facts.get(agency) or self.facts.setdefault(agency, AgencyFacts())
        return agency, found

    def add(self, evidence: object, source: SourceInput, where: str = "", sources: Iterable[str] = ()) -> None:
        """Count one dossier's latest evidence of `source` in every period it belongs to."""
        reasons = problems(evidence)
        if not reasons:
            try:
                self._add(evidence, source, sources)  # type: ignore[arg-type]
                return
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                reasons = [f"{type(exc).__name__}: {exc}"]
        dossier = evidence.get("dossier") if isinstance(evidence, dict) else None
        self.reject(where or f"dossier {dossier or '?'}", reasons)

    def _add(self, evidence: dict, source: SourceInput, sources: Iterable[str]) -> None:
        results = [outcome(evidence, period, self.rules) for period in self.periods]
        agency, facts = self._facts(str(evidence.get("agency") or ""))
        if source.kind == EVIDENCE:
            facts.newest[source.name] = later(facts.newest.get(source.name), _newest(evidence))
        else:
            facts.sources.setdefault(source.name, set()).update(sources)
        channel, found = evidence.get("channel") or "direct", len(evidence["nonconformities"])
        for result, table in zip(results, self.counts):
            if result is not None:
                counts = table.get(agency) or table.setdefault(agency, Counts())
                counts.count(result[0], result[1], channel, found)

    def feed_records(self, records: Iterable[tuple[str, str, dict, dict | None]],
                     source: SourceInput) -> Iterator[tuple[str, str, dict, dict | None]]:
        """Count the evidence of each ledger record as it passes, and pass it on (for
        :func:`agency_coverage_rates`, so one pass over the ledger serves both)."""
        for item in records:
            dossier, _, record, evidence = item
            if evidence is not None:
                events = record.get("events") if isinstance(record, dict) else None
                names = {str(e["source"]) for e in events or () if isinstance(e, dict) and e.get("source")}
                self.add(evidence, source, f"dossier {dossier}", names)
            yield item

    def add_coverage(self, found: list[dict[str, Coverage]], source: SourceInput) -> None:
        """Add one ledger's coverage (:func:`agency_coverage_rates` over the same periods)."""
        for table, mine in zip(found, self.coverage):
            for agency, coverage in table.items():
                agency, facts = self._facts(agency)
                facts.sources.setdefault(source.name, set())
                (mine.get(agency) or mine.setdefault(agency, Coverage())).merge(coverage)

    def agencies(self) -> list[str]:
        """Every agency seen in any input, by name."""
        return sorted(self.facts)

    def coverage_of(self, index: int, agency: str) -> Coverage | None:
        """An agency's coverage in period `index`; None (unknown) when any of its inputs is an evidence file."""
        facts = self.facts.get(agency)
        if facts is None or facts.newest:
            return None
        return self.coverage[index].get(agency, Coverage())

    def freshness(self, agency: str) -> Freshness:
        """How current an agency's data is: the stalest of its inputs (see :class:`Freshness`)."""
        facts = self.facts[agency]
        instants: list[str | None] = list(facts.newest.values())
        names: list[str] = []
        for source in self.inputs:
            fed = facts.sources.get(source.name)
            if fed is None:
                continue
            chosen = sorted(fed & set(source.synced)) or sorted(source.synced)
            names += chosen
            instants += [later(None, source.synced[name]) for name in chosen]
        known = [instant for instant in instants if instant is not None]
        stalest = min(known) if known and len(known) == len(instants) else None
        return Freshness(stalest, EVIDENCE if facts.newest else LEDGER, tuple(names))


def input_freshness(source: SourceInput, rollup: Rollup) -> str | None:
    """When an input was last brought in: a ledger's newest source sync, an evidence file's newest
    recorded instant (local ISO text)."""
    if source.kind == LEDGER:
        newest = None
        for instant in source.synced.values():
            newest = later(newest, instant)
        return newest
    newest = None
    for facts in rollup.facts.values():
        newest = later(newest, facts.newest.get(source.name))
    return newest
