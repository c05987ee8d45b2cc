"""The default worker count of `evaluate` and `sync` is the cores this process may run on."""

from __future__ import annotations

import io
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import orjson
import pytest

from isobridge.core import batch, samples
from isobridge.core import sync as sync_module
from isobridge.core.calendar import WorkingCalendar
from isobridge.core.cli import main
from isobridge.core.generate import CaseLogGenerator
from isobridge.core.procedures import ProcedureBook
from isobridge.core.workers import usable_cores

AS_OF = "2026-11-01T00:00:00+07:00"


def cases(path: Path, count: int) -> Path:
    """`count` generated dossiers written to `path`."""
    generator = CaseLogGenerator(ProcedureBook.from_dir(samples.PROCEDURES), WorkingCalendar.from_file(samples.CALENDAR), 5)
    path.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in generator.records(count)))
    return path


@pytest.fixture
def six_of_eight(monkeypatch) -> None:
    """A process allowed on 6 of the machine's 8 cores (a container's cpuset, `taskset`)."""
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5}, raising=False)


def test_usable_cores_is_the_affinity_not_the_machine(six_of_eight) -> None:
    assert usable_cores() == 6


def test_usable_cores_without_affinity_is_every_core(monkeypatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 12)
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    assert usable_cores() == 12
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert usable_cores() == 1


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_evaluate_uses_every_usable_core_by_default(six_of_eight, monkeypatch, tmp_path: Path, capsys, source: str) -> None:
    """No cap at four: with six usable cores `isobridge evaluate` forks six workers."""
    counts: list[int] = []
    real = batch._workers

    def counted(context, count, initargs):
        counts.append(count)
        return real(context, count, initargs)

    monkeypatch.setattr(batch, "_workers", counted)
    path = cases(tmp_path / "cases.jsonl", 60)
    if source == "stdin":
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(open(path, "rb")))
    out = tmp_path / "evidence.jsonl"
    argument = str(path) if source == "file" else "-"
    assert main(["evaluate", argument, "--as-of", AS_OF, "--out", str(out), "--rejects", str(tmp_path / "r.jsonl")]) == 0
    assert counts == [6]
    assert len(out.read_bytes().splitlines()) == 60


def test_sync_uses_every_usable_core_by_default(six_of_eight, monkeypatch, tmp_path: Path) -> None:
    """`[sync] workers` unset: the staging pool has one worker per usable core."""
    sizes: list[int] = []

    def counted(max_workers, **options):
        sizes.append(max_workers)
        return ProcessPoolExecutor(max_workers, **options)

    monkeypatch.setattr(sync_module, "ProcessPoolExecutor", counted)
    (tmp_path / "in").mkdir()
    cases(tmp_path / "in/a.jsonl", 300)
    (tmp_path / "conf.toml").write_text(
        '[ledger]\npath = "ledger.db"\n[sources.onestop]\nadapter = "caselog"\nfolder = "in"\n'
        '[sinks.evidence]\nadapter = "jsonl"\npath = "out/evidence.jsonl"\n', encoding="utf-8")
    assert main(["sync", "--config", str(tmp_path / "conf.toml"), "--as-of", AS_OF]) == 0
    assert sizes == [6]
    assert len((tmp_path / "out/evidence.jsonl").read_bytes().splitlines()) == 300
