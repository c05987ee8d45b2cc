"""Records describing a sync run, passed to the lifecycle hooks and kept in the ledger."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunInfo:
    """A sync run as it starts."""

    run_id: int
    started_at: str
    sources: list[str]
    sinks: list[str]
    dry_run: bool = False


@dataclass
class RunReport:
    """What a run did, as it finishes."""

    outcome: str
    """`ok`, `quarantined` (finished, some records quarantined) or `failed`."""
    records: int = 0
    dossiers: int = 0
    revisions: int = 0
    quarantined: int = 0
    pending: int = 0
    duration_seconds: float = 0.0
    error: str | None = None
    counts: dict[str, Any] = field(default_factory=dict)


@dataclass
class QuarantineEntry:
    """A record that could not be processed, with its original payload and every error."""

    source: str
    key: str
    stage: str
    """`fetch`, `map`, `evaluate` or `write`."""
    payload: str
    errors: list[str]
    id: int | None = None
    at: str | None = None
