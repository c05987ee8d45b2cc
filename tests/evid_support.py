"""Shared helpers of the evidence-output tests: real evidence from the engine, sink contexts."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path

from isobridge.core import samples
from isobridge.core.adapters import AdapterContext, EvidenceItem
from isobridge.core.calendar import WorkingCalendar
from isobridge.core.engine import Evaluator
from isobridge.core.generate import CaseLogGenerator
from isobridge.core.privacy import Pseudonymizer
from isobridge.core.procedures import ProcedureBook

FIXTURES = Path(__file__).parent / "fixtures" / "evid"
XES_XSD = FIXTURES / "xes-1849-2016-structure.xsd"
AS_OF = int(datetime.fromisoformat("2026-11-01T00:00:00+07:00").timestamp())


@lru_cache(maxsize=4)
def _evidence(count: int, seed: int) -> tuple[dict, ...]:
    book = ProcedureBook.from_dir(samples.PROCEDURES)
    calendar = WorkingCalendar.from_file(samples.CALENDAR)
    evaluator = Evaluator(book, calendar, as_of=AS_OF)
    generator = CaseLogGenerator(book, calendar, seed)
    return tuple(evaluator.evaluate_record(record) for record in generator.records(count))


def evidence(count: int = 300, seed: int = 766) -> list[dict]:
    """`count` real evidence records (engine output on a generated case log)."""
    return [dict(e) for e in _evidence(count, seed)]


def items(records: list[dict], revision: int = 1) -> list[EvidenceItem]:
    """Evidence items of the given records."""
    return [EvidenceItem(e["dossier"], revision, e) for e in records]


def context(state: dict | None = None) -> AdapterContext:
    """An adapter context with its persistent state dict."""
    return AdapterContext("test", Pseudonymizer("test-key"), state=state if state is not None else {})
