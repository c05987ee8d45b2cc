"""Typed contracts that source and sink adapters implement (internal module: import from `isobridge.core`).

Plugins *register* these classes through hooks (see :mod:`isobridge.core.hookspecs`); the sync
job then drives them directly, page by page and batch by batch.

Sources yield :class:`Page` objects of :class:`RawRecord` (the original payload, kept verbatim
for the quarantine) and map each raw record to case-log *fragments*: dicts in the case-log shape
(`dossier` plus any header fields and `events`). The ledger merges fragments of the same dossier,
so events may arrive in any order and from different files or systems.

Sinks receive batches of :class:`EvidenceItem`; each carries an idempotency key
(`dossier@revision`). The host never sends a key again once it was acknowledged; a batch whose
acknowledgement was lost (a crash) is sent again to a sink reopened with the `context.state` of
its last acknowledgement. A sink must then deliver it once: by key (a remote store's
`Idempotency-Key`, a primary key) or by rolling back to its committed state (a file's offset).
"""

from __future__ import annotations

import logging
from pathlib import Path
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import orjson
from pydantic import BaseModel, ConfigDict

from .errors import UnavailableError
from .privacy import Pseudonymizer


class AdapterOptions(BaseModel):
    """Base class of an adapter's options (a `[sources.NAME]` or `[sinks.NAME]` table).

    Subclasses add their own fields; secrets must be `pydantic.SecretStr`.
    """

    model_config = ConfigDict(extra="forbid")

    adapter: str


@dataclass
class AdapterContext:
    """What the host gives every adapter instance."""

    name: str
    """The configured instance name (the NAME of `[sources.NAME]`)."""
    pseudonymizer: Pseudonymizer
    """Keyed pseudonyms for citizens' personal data: use it before anything leaves the adapter."""
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("isobridge"))
    state: dict[str, Any] = field(default_factory=dict)
    """Small persistent key/value state of this instance (stored in the ledger)."""
    base_dir: Path = field(default_factory=Path.cwd)
    """Folder of the configuration file: relative paths in options are relative to it."""
    ledger_path: Path | None = None
    """The ledger database of this deployment (for adapters that write into it)."""

    def resolve(self, path: str | Path) -> Path:
        """A path from the options, relative to the configuration file's folder."""
        path = Path(path)
        return path if path.is_absolute() else self.base_dir / path

    def pseudonym(self, value: str | None) -> str | None:
        """Keyed pseudonym of a personal identifier (None stays None)."""
        return self.pseudonymizer.pseudonym(value)


@dataclass
class CheckResult:
    """The answer of :meth:`Source.check` / :meth:`Sink.check`."""

    ok: bool
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    """E.g. reachable, authenticated, permissions, clock_skew_seconds."""


@dataclass
class RawRecord:
    """One record as the source system gave it."""

    key: str
    """Stable identity within the source (file and line, dossier id, packet id)."""
    payload: str
    """The original payload text, stored verbatim when the record is quarantined."""
    data: Any = None
    """The decoded payload, when the source already decoded it (saves decoding twice)."""


@dataclass
class Page:
    """A page of raw records and the cursor to resume *after* it."""

    records: list[RawRecord]
    cursor: str | None
    """Opaque to the host; committed only after every sink acknowledged the page's evidence."""


class Source(ABC):
    """A source adapter: reachability check, paged incremental fetch, mapping to case-log fragments."""

    name: ClassVar[str]
    """Adapter name used in `adapter = "…"`."""
    Options: ClassVar[type[AdapterOptions]] = AdapterOptions
    parallel_map: ClassVar[bool] = False
    """True when `map` depends only on the record, the options and the context (no state kept by
    `pages`, no connections): the sync then maps in its worker processes, next to evaluation.
    There a record whose `data` is set arrives without its `payload` (left empty): map from `data`."""

    def __init__(self, options: AdapterOptions, context: AdapterContext):
        self.options = options
        self.context = context

    @abstractmethod
    def check(self) -> CheckResult:
        """Can the source be reached and does it accept the credentials?"""

    @abstractmethod
    def pages(self, cursor: str | None) -> Iterator[Page]:
        """Pages of raw records after `cursor` (None: from the beginning), in order."""

    @abstractmethod
    def map(self, record: RawRecord) -> list[dict]:
        """Case-log fragments of one raw record; raise RecordError to quarantine it."""

    def quarantine_payload(self, record: RawRecord) -> str:
        """The payload kept in the quarantine: the original, with personal data pseudonymised
        where the adapter can (override it when `payload` can hold citizens' data in clear)."""
        return record.payload

    def close(self) -> None:
        """Release connections and files."""


@runtime_checkable
class ReportsUnmapped(Protocol):
    """Optional source capability: the vendor codes of one record its mapping does not cover.

    `isobridge mapping check` lists them; categories are e.g. `status`, `step`, `action`,
    `procedure`, `events`. Raise RecordError for a record that cannot be read.
    """

    def unmapped(self, record: RawRecord) -> set[tuple[str, str]]:
        """(category, code) pairs of `record` that reach no ISO step."""
        ...


@runtime_checkable
class ReportsUnconfirmed(Protocol):
    """Optional source capability: what the mapping reads that no public client or live system confirmed."""

    def unconfirmed(self) -> list[str]:
        """Notes printed by `isobridge mapping check` next to its result."""
        ...


@runtime_checkable
class DraftsProcedures(Protocol):
    """Optional source capability: draft ISO procedure files from the vendor's own processes."""

    def draft_procedures(self) -> list[str]:
        """One procedure TOML text per vendor process (`isobridge procedures import`)."""
        ...


class EvidenceItem:
    """One evidence revision to deliver: the evidence as a dict, its JSON, or both (each made on demand)."""

    __slots__ = ("dossier", "revision", "_evidence", "_blob")

    def __init__(self, dossier: str, revision: int, evidence: dict | None = None, blob: bytes | None = None):
        if evidence is None and blob is None:
            raise ValueError("an evidence item needs the evidence or its JSON")
        self.dossier, self.revision, self._evidence, self._blob = dossier, revision, evidence, blob

    @property
    def evidence(self) -> dict:
        """The evidence (in the evidence file shape)."""
        if self._evidence is None:
            self._evidence = orjson.loads(self._blob)  # type: ignore[arg-type]
        return self._evidence

    def json(self) -> bytes:
        """The evidence as compact JSON bytes."""
        if self._blob is None:
            self._blob = orjson.dumps(self._evidence)
        return self._blob

    @property
    def key(self) -> str:
        """The idempotency key: the same revision always has the same key."""
        return f"{self.dossier}@{self.revision}"

    def __repr__(self) -> str:
        return f"EvidenceItem({self.key})"


@dataclass
class WriteResult:
    """A sink's acknowledgement of a batch."""

    accepted: list[str] = field(default_factory=list)
    """Idempotency keys delivered (or already delivered before)."""
    rejected: dict[str, str] = field(default_factory=dict)
    """Idempotency key → the reason the sink refused the item (it is quarantined)."""


class SinkUnavailable(UnavailableError):
    """The sink cannot take anything now (down, unreachable): stop the run, keep the checkpoint."""


class Sink(ABC):
    """A sink adapter: receives evidence batches and acknowledges them item by item."""

    name: ClassVar[str]
    Options: ClassVar[type[AdapterOptions]] = AdapterOptions

    def __init__(self, options: AdapterOptions, context: AdapterContext):
        self.options = options
        self.context = context

    def check(self) -> CheckResult:
        """Can the sink take writes?"""
        return CheckResult(True, "ok")

    @abstractmethod
    def write(self, batch: list[EvidenceItem]) -> WriteResult:
        """Deliver a batch; idempotent by key; raise SinkUnavailable when down."""

    def close(self) -> None:
        """Flush and release resources."""
