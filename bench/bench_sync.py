"""Benchmark: `isobridge sync` (caselog → ledger + jsonl sink) against `isobridge evaluate` on the same file.

The sync stores every merged dossier and its latest evidence in the SQLite ledger, logs each
revision, delivers it to the jsonl sink (fsync per batch) and commits checkpoints; `evaluate`
only reads and writes files.

Usage: python bench/bench_sync.py [DOSSIERS ...]   (default 50000 200000)
Prints seconds, dossiers/s, the sync's overhead over plain evaluation and the peak RSS of each.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
AS_OF = "2026-11-01T00:00:00+07:00"


def run(command: list[str]) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of a child process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(process.pid, 0)
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def case_log(count: int) -> Path:
    path = OUT / f"cases-{count}.jsonl"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        subprocess.run(["isobridge", "generate", "--dossiers", str(count), "--out", str(path)], check=True)
    return path


def measure(count: int) -> None:
    cases = case_log(count)
    work = OUT / f"sync-{count}"
    shutil.rmtree(work, ignore_errors=True)
    (work / "in").mkdir(parents=True)
    (work / "in" / cases.name).symlink_to(cases)
    (work / "conf.toml").write_text(
        '[ledger]\npath = "ledger.db"\n[sources.cases]\nadapter = "caselog"\nfolder = "in"\n'
        '[sinks.evidence]\nadapter = "jsonl"\npath = "evidence.jsonl"\n')
    evaluate_s, evaluate_mb = run(["isobridge", "evaluate", str(cases), "--as-of", AS_OF, "--out", str(work / "plain.jsonl")])
    sync_s, sync_mb = run(["isobridge", "sync", "--config", str(work / "conf.toml"), "--as-of", AS_OF])
    print(f"| {count:,} | {evaluate_s:.2f} | {count / evaluate_s:,.0f} | {evaluate_mb:.0f} "
          f"| {sync_s:.2f} | {count / sync_s:,.0f} | {sync_mb:.0f} | {sync_s / evaluate_s - 1:+.0%} |")


def main() -> None:
    counts = [int(arg) for arg in sys.argv[1:]] or [50_000, 200_000]
    print("| dossiers | evaluate s | evaluate dossiers/s | evaluate peak MB | sync s | sync dossiers/s | sync peak MB | sync overhead |")
    print("|---|---|---|---|---|---|---|---|")
    for count in counts:
        measure(count)


if __name__ == "__main__":
    main()
