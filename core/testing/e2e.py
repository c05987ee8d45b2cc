"""End to end: run a real :class:`~isobridge.core.sync.SyncJob` with an adapter and a temp ledger."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from isobridge.core import samples
from isobridge.core.adapters import Sink, Source
from isobridge.core.hookspecs import hookimpl
from isobridge.core.ledger import Ledger
from isobridge.core.plugins import load_plugins
from isobridge.core.runs import QuarantineEntry, RunReport
from isobridge.core.settings import Settings
from isobridge.core.sync import SyncJob

from ._support import KIT_PSEUDONYM_KEY


class KitPlugin:
    """A plugin object registering the adapter classes under test (if no entry point does)."""

    __name__ = "isobridge-kit"

    def __init__(self, sources: list[type[Source]], sinks: list[type[Sink]]):
        self.sources, self.sinks = sources, sinks

    @hookimpl
    def register_sources(self, register) -> None:
        """Register the sources under test."""
        for cls in self.sources:
            register(cls)

    @hookimpl
    def register_sinks(self, register) -> None:
        """Register the sinks under test."""
        for cls in self.sinks:
            register(cls)


@dataclass
class SyncOutcome:
    """What the runs did: reports, the ledger, the evidence delivered to the default sink."""

    reports: list[RunReport]
    ledger_path: Path
    evidence: list[dict] = field(default_factory=list)
    quarantine: list[QuarantineEntry] = field(default_factory=list)
    checkpoint: str | None = None


def _sample_folder(workdir: Path, cases: int) -> Path:
    folder = workdir / "kit-in"
    folder.mkdir(parents=True, exist_ok=True)
    with open(samples.CASES, "rb") as lines, open(folder / "cases.jsonl", "wb") as out:
        for _, line in zip(range(cases), lines):
            out.write(line)
    return folder


def run_sync(workdir: Path, source: tuple[type[Source], dict[str, Any]] | None = None,
             sink: tuple[type[Sink], dict[str, Any]] | None = None, *, runs: int = 1,
             as_of: str = "2026-01-01T00:00:00+07:00", procedures: Path | None = None,
             sample_cases: int = 40) -> SyncOutcome:
    """Sync `source` into `sink` through the real host `runs` times, with a ledger under `workdir`.

    Without a source, `sample_cases` bundled sample dossiers are read by the caselog source;
    without a sink, evidence goes to a jsonl file (returned as `evidence`).
    """
    from datetime import datetime

    workdir.mkdir(parents=True, exist_ok=True)
    src_cls, src_opts = source or (None, {"adapter": "caselog", "folder": str(_sample_folder(workdir, sample_cases)),
                                          "settle_seconds": 0})
    out = workdir / "kit-out" / "evidence.jsonl"
    sink_cls, sink_opts = sink or (None, {"adapter": "jsonl", "path": str(out), "fsync": False})
    if src_cls is not None:
        src_opts = {"adapter": src_cls.name, **src_opts}
    if sink_cls is not None:
        sink_opts = {"adapter": sink_cls.name, **sink_opts}
    settings = Settings(
        ledger={"path": workdir / "kit-ledger.db"}, sync={"workers": 1, "batch_size": 100},
        procedures={"dir": procedures or samples.PROCEDURES}, privacy={"pseudonym_key": KIT_PSEUDONYM_KEY},
        sources={"kit": src_opts}, sinks={"kit": sink_opts},
    )
    registry = load_plugins(extra=[KitPlugin([c for c in [src_cls] if c], [c for c in [sink_cls] if c])])
    stamp = int(datetime.fromisoformat(as_of).timestamp())
    reports = []
    for _ in range(runs):
        ledger = Ledger(settings.ledger.path)
        try:
            reports.append(SyncJob(settings, registry, ledger, as_of=stamp, base_dir=workdir).run())
        finally:
            ledger.close()
    ledger = Ledger(settings.ledger.path)
    ledger.protect(KIT_PSEUDONYM_KEY)  # quarantined payloads are sealed under the deployment's key
    try:
        outcome = SyncOutcome(reports, settings.ledger.path, quarantine=ledger.quarantined(),
                              checkpoint=ledger.checkpoint("kit"))
    finally:
        ledger.close()
    if sink is None and out.exists():
        outcome.evidence = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    return outcome


def copy_tree(source: Path, target: Path) -> Path:
    """Copy sample files into a temp folder (fixtures must not change the originals)."""
    shutil.copytree(source, target, dirs_exist_ok=True)
    return target
