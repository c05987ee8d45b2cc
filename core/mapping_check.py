"""`isobridge mapping check`: every vendor code in a sample that reaches no ISO step, never a false all-clear.

Internal module: plugins use `check_mapping`, `unmapped_codes` and `MappingReport` from `isobridge.core`.

A source takes part through two optional capabilities (Protocols in :mod:`isobridge.core.adapters`):

- :class:`ReportsUnmapped`, `unmapped(record) -> set[(category, code)]`: the vendor codes of one
  record the mapping does not cover (categories such as `status`, `step`, `action`, `procedure`, `events`);
- :class:`ReportsUnconfirmed`, `unconfirmed() -> list[str]`: notes on what the mapping reads that no
  public client or live system has confirmed; printed with the result.

Whatever the source says, each sampled record is also mapped and its fragments are checked against
the deployment's ISO procedures: a procedure with no ISO file, a step that is not one of the
procedure's ISO steps, a record the mapping quarantines, and ISO steps no sampled dossier reached.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from .adapters import RawRecord, ReportsUnconfirmed, ReportsUnmapped
from .errors import RecordError

ENTERING = ("received", "handover", "sent_back")
"""Event kinds that place a dossier in a step (as the engine reads them)."""


class MappedSource(Protocol):
    """A source whose records can be checked against its mapping."""

    def pages(self, cursor: str | None):
        """Pages of raw records, as every source has."""

    def map(self, record: RawRecord) -> list[dict]:
        """Case-log fragments of one record."""


@dataclass
class MappingReport:
    """What a sample showed: codes reaching no ISO step (with the dossiers they affect) and notes."""

    codes: dict[tuple[str, str], int] = field(default_factory=dict)
    """(category, code) → number of sampled records (dossiers) it affects, sorted."""
    sampled: int = 0
    """Records pulled."""
    notes: list[str] = field(default_factory=list)
    """The mapping's unconfirmed notes (`source.unconfirmed()`)."""

    @property
    def clear(self) -> bool:
        """True only when records were sampled and every one reached ISO steps."""
        return self.sampled > 0 and not self.codes


def unmapped_codes(source: MappedSource, sample_size: int = 500, procedures=None) -> dict[tuple[str, str], int]:
    """(category, code) → sampled records affected; see :func:`check_mapping`."""
    return check_mapping(source, sample_size, procedures).codes


def check_mapping(source: MappedSource, sample_size: int = 500, procedures=None) -> MappingReport:
    """Pull up to `sample_size` records from the start and list what reaches no ISO step.

    `procedures` (a ProcedureBook, optional) adds the checks against the ISO procedures.
    """
    counts: Counter[tuple[str, str]] = Counter()
    reached: dict[str, set[str]] = {}
    per_procedure: Counter[str] = Counter()
    seen = 0
    for page in source.pages(None):
        for record in page.records:
            found = _source_codes(source, record) | _fragment_codes(source, record, procedures, reached,
                                                                    per_procedure)
            counts.update(found)
            seen += 1
            if seen >= sample_size:
                break
        if seen >= sample_size:
            break
    counts.update(_unreached(procedures, reached, per_procedure))
    notes = list(source.unconfirmed()) if isinstance(source, ReportsUnconfirmed) else []
    return MappingReport(dict(sorted(counts.items())), seen, notes)


def _source_codes(source, record: RawRecord) -> set[tuple[str, str]]:
    """The source's own `unmapped(record)`; a record it cannot read counts as quarantined."""
    if not isinstance(source, ReportsUnmapped):
        return set()
    try:
        return set(source.unmapped(record))
    except RecordError as exc:
        return {("record", f"quarantined: {_field(error)}") for error in exc.errors}


def _fragment_codes(source, record: RawRecord, procedures, reached: dict[str, set[str]],
                    per_procedure: Counter) -> set[tuple[str, str]]:
    """Codes of one record found by mapping it and reading its fragments against the procedures."""
    try:
        fragments = source.map(record)
    except RecordError as exc:
        return {("record", f"quarantined: {_field(error)}") for error in exc.errors}
    found: set[tuple[str, str]] = set()
    for fragment in fragments:
        code = fragment.get("procedure")
        if procedures is None or not code:
            continue
        steps = _iso_steps(procedures, code)
        if steps is None:
            found.add(("procedure", f"{code}: no ISO procedure file"))
            continue
        per_procedure[code] += 1
        entered = reached.setdefault(code, set())
        for event in fragment.get("events") or []:
            if event.get("kind") not in ENTERING:
                continue
            step = event.get("step") or (steps[0] if event.get("kind") == "received" else None)
            if step and step not in steps:
                found.add(("step", f"{code}:{step}"))
            elif step:
                entered.add(step)
    return found


def _iso_steps(procedures, code: str) -> list[str] | None:
    """The ISO step codes of a procedure (every version, first step first), None when unknown."""
    versions = procedures.versions.get(code)
    if not versions:
        return None
    steps: list[str] = []
    for _, procedure in versions:
        steps.extend(step.code for step in procedure.steps if step.code not in steps)
    return steps


def _unreached(procedures, reached: dict[str, set[str]], per_procedure: Counter) -> Counter:
    """ISO steps of a sampled procedure that no sampled dossier entered (counted over its dossiers)."""
    missing: Counter[tuple[str, str]] = Counter()
    for code, entered in reached.items():
        for step in _iso_steps(procedures, code) or []:
            if step not in entered:
                missing[("unreached", f"{code}:{step}")] = per_procedure[code]
    return missing


def _field(error: str) -> str:
    """The field a mapping error names (`record K: path: why` → `path`), for grouping."""
    text = error.split(": ", 1)[1] if error.startswith("record ") and ": " in error else error
    return text.split(":", 1)[0][:80]
