"""Benchmark: `isobridge sync` (caselog → ledger + jsonl sink) against `isobridge evaluate` on the same file.

The sync stores every merged dossier and its latest evidence in the SQLite ledger, logs each
revision, delivers it to the jsonl sink (fsync per batch) and commits checkpoints; `evaluate`
only reads and writes files.

Usage: python bench/bench_sync.py [--against TREE] [--rounds N] [DOSSIERS ...]   (default 50000 200000)

Prints seconds, dossiers/s, CPU (user + system, the command and its workers) and peak RSS of each,
the sync's overhead over plain evaluation, and the ledger's bytes per dossier after VACUUM.
`--against TREE` also runs the sync of another version, alternately with this one, `--rounds`
times: TREE holds `isobridge/{core,adapters,mappings}` of it (e.g. `git archive REV core adapters
mappings | tar -x -C TREE/isobridge` and an empty `TREE/isobridge/__init__.py`), put first on
PYTHONPATH.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
AS_OF = "2026-11-01T00:00:00+07:00"
CLI = [sys.executable, "-c", "import sys; from isobridge.core.cli import main; sys.exit(main())"]


def run(command: list[str], tree: Path | None = None) -> tuple[float, float, float]:
    """Seconds, CPU seconds (the child and the workers it waited for) and peak RSS (MB) of a child process."""
    env = dict(os.environ, PYTHONPATH=str(tree)) if tree else None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if status:
        raise SystemExit(f"{command[:4]} failed ({status})")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return seconds, cpu, usage.ru_maxrss / 1024


def case_log(count: int) -> Path:
    path = OUT / f"cases-{count}.jsonl"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        subprocess.run(["isobridge", "generate", "--dossiers", str(count), "--out", str(path)], check=True)
    return path


def sync(count: int, tree: Path | None = None) -> tuple[float, float, float, float]:
    """Seconds, CPU seconds, peak MB of a sync of `count` dossiers into a fresh ledger, and the
    ledger's bytes per dossier after VACUUM."""
    cases = case_log(count)
    work = OUT / f"sync-{count}"
    shutil.rmtree(work, ignore_errors=True)
    (work / "in").mkdir(parents=True)
    (work / "in" / cases.name).symlink_to(cases)
    (work / "conf.toml").write_text(
        '[ledger]\npath = "ledger.db"\n[sources.cases]\nadapter = "caselog"\nfolder = "in"\n'
        '[sinks.evidence]\nadapter = "jsonl"\npath = "evidence.jsonl"\n')
    seconds, cpu, peak = run([*CLI, "sync", "--config", str(work / "conf.toml"), "--as-of", AS_OF], tree)
    with sqlite3.connect(work / "ledger.db") as db:
        db.execute("VACUUM")
    return seconds, cpu, peak, os.path.getsize(work / "ledger.db") / count


def measure(count: int) -> None:
    cases = case_log(count)
    evaluate_s, evaluate_cpu, evaluate_mb = run([*CLI, "evaluate", str(cases), "--as-of", AS_OF,
                                                 "--out", str(OUT / f"plain-{count}.jsonl")])
    sync_s, sync_cpu, sync_mb, size = sync(count)
    print(f"| {count:,} | {evaluate_s:.2f} | {count / evaluate_s:,.0f} | {evaluate_cpu:.2f} | {evaluate_mb:.0f} "
          f"| {sync_s:.2f} | {count / sync_s:,.0f} | {sync_cpu:.2f} | {sync_mb:.0f} | {sync_s / evaluate_s - 1:+.0%} "
          f"| {size:,.0f} |")


def against(count: int, tree: Path, rounds: int) -> None:
    """This version's sync and another's, alternately."""
    print("| round | version | sync s | CPU s | CPU µs/dossier | peak MB | ledger bytes/dossier |")
    print("|---|---|---|---|---|---|---|")
    for number in range(1, rounds + 1):
        for name, where in (("other", tree), ("this", None)):
            seconds, cpu, peak, size = sync(count, where)
            print(f"| {number} | {name} | {seconds:.2f} | {cpu:.2f} | {cpu / count * 1e6:.0f} | {peak:.0f} | {size:,.0f} |",
                  flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("counts", nargs="*", type=int, default=[50_000, 200_000])
    parser.add_argument("--against", type=Path, help="tree of another version to alternate with")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.against:
        for count in args.counts:
            against(count, args.against.resolve(), args.rounds)
        return
    print("| dossiers | evaluate s | evaluate dossiers/s | evaluate CPU s | evaluate peak MB | sync s | sync dossiers/s"
          " | sync CPU s | sync peak MB | sync overhead | ledger bytes/dossier |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for count in args.counts:
        measure(count)


if __name__ == "__main__":
    main()
