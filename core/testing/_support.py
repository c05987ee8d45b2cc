"""Helpers shared by the contract suites: opening adapters, capturing logs, sample evidence."""

from __future__ import annotations

import functools
import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from isobridge.core import samples
from isobridge.core.adapters import AdapterContext, AdapterOptions, EvidenceItem
from isobridge.core.privacy import Pseudonymizer

KIT_PSEUDONYM_KEY = "kit-pseudonym-key-7c1e94b2d0"
"""The pseudonym key of every context the kit builds (also checked for leaks, like a secret)."""


def make_context(name: str = "kit", state: dict | None = None, base_dir: Path | None = None,
                 ledger_path: Path | None = None) -> AdapterContext:
    """An adapter context like the host's, with the kit's pseudonym key."""
    return AdapterContext(
        name=name, pseudonymizer=Pseudonymizer(KIT_PSEUDONYM_KEY),
        log=logging.getLogger(f"isobridge.adapter.{name}"), state=state if state is not None else {},
        base_dir=base_dir or Path.cwd(), ledger_path=ledger_path,
    )


def make_options(adapter: type, options: dict[str, Any]) -> AdapterOptions:
    """The adapter's validated options (`adapter = name` filled in)."""
    return adapter.Options.model_validate({"adapter": adapter.name, **options})


def option_values(options: Any) -> Iterator[str]:
    """Every string value in a (nested) options mapping."""
    if isinstance(options, dict):
        for value in options.values():
            yield from option_values(value)
    elif isinstance(options, (list, tuple)):
        for value in options:
            yield from option_values(value)
    elif options is not None:
        yield str(options)


class Transcript(logging.Handler):
    """Everything logged (every logger, every level) and every error text seen, as one text."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.parts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.parts.append(record.getMessage())
        if record.exc_info:
            self.parts.append("".join(traceback.format_exception(*record.exc_info)))

    def error(self, exc: BaseException) -> None:
        """Keep an exception's text and traceback."""
        self.parts.append("".join(traceback.format_exception(exc)))

    def add(self, *texts: object) -> None:
        """Keep other texts (reprs, messages, outputs)."""
        self.parts.extend(str(text) for text in texts)

    @property
    def text(self) -> str:
        return "\n".join(self.parts)


@contextmanager
def transcript() -> Iterator[Transcript]:
    """Capture every log record at DEBUG while the block runs."""
    handler = Transcript()
    root = logging.getLogger()
    touched = [(logger, logger.level, logger.propagate) for logger in
               (root, logging.getLogger("isobridge"), logging.getLogger("urllib3"))]
    root.addHandler(handler)
    for logger, _, _ in touched:
        logger.setLevel(logging.DEBUG)
    logging.getLogger("isobridge").propagate = True
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for logger, level, propagate in touched:
            logger.setLevel(level)
            logger.propagate = propagate


def leaks(text: str, values: list[str]) -> list[str]:
    """The values (or their whitespace-free forms) found in `text`."""
    found = []
    for value in values:
        compact = "".join(value.split())
        if value in text or (len(compact) >= 6 and compact in text):
            found.append(value)
    return found


def canonical(value: Any) -> bytes:
    """Stable JSON of a value (for comparing fragments)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


@functools.lru_cache(maxsize=1)
def _sample_evidence() -> tuple[tuple[str, bytes], ...]:
    from isobridge.core.calendar import WorkingCalendar
    from isobridge.core.caselog import RecordError
    from isobridge.core.engine import Evaluator
    from isobridge.core.procedures import ProcedureBook

    evaluator = Evaluator(ProcedureBook.from_dir(samples.PROCEDURES), WorkingCalendar.from_file(samples.CALENDAR))
    found = []
    with open(samples.CASES, "rb") as lines:
        for line in lines:
            try:
                evidence = evaluator.evaluate_record(orjson.loads(line))
            except RecordError:
                continue
            found.append((evidence["dossier"], orjson.dumps(evidence)))
            if len(found) >= 24:
                break
    return tuple(found)


def sample_evidence(count: int = 8, revision: int = 1, start: int = 0) -> list[EvidenceItem]:
    """Real evidence of the bundled sample cases, as items of the given revision."""
    items = []
    for dossier, blob in _sample_evidence()[start:start + count]:
        items.append(EvidenceItem(dossier, revision, orjson.loads(blob)))
    return items
