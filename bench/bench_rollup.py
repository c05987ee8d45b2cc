"""Benchmark of `isobridge report --rollup` over 1 000 000 dossiers: time and peak memory.

Usage: python bench/bench_rollup.py [--dossiers 1000000] [--keep]

The ledger and evidence file are the ones bench_sync.py builds (a generated, seeded case log synced
by `isobridge sync` into a fresh ledger and a jsonl sink); `--keep` reuses them when they exist.
Each command then runs in its own process (peak memory = its maximum RSS, `wait4`):

- report: the plain quality-objective report from the ledger (the yardstick);
- rollup-ledger: the roll-up from the ledger, one pass over every stored dossier (counts, coverage
  against the procedure book, sources), a quarter compared with the previous one;
- rollup-evidence: the same from the evidence file (two passes: the latest line of each dossier,
  remembered per dossier code);
- rollup-evidence-all-lines: the same with `--all-lines` (one pass; for a file `isobridge evaluate`
  wrote, one line per dossier).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_sync import CLI, OUT, run, sync  # noqa: E402 - the bench folder is not a package

PERIOD = ["--from", "2026-04-01", "--to", "2026-06-30"]


def commands(work: Path) -> dict[str, list[str]]:
    """The timed commands over the deployment in `work`."""
    conf, evidence, out = work / "conf.toml", work / "evidence.jsonl", OUT / "rollup"
    rollup = ["--rollup", *PERIOD, "--compare", "previous", "--seed", "766"]
    return {
        "report": [*CLI, "report", "--config", str(conf), *PERIOD, "--out", str(out / "report.html")],
        "rollup-ledger": [*CLI, "report", "--config", str(conf), *rollup, "--out", str(out / "rollup-ledger.html")],
        "rollup-evidence": [*CLI, "report", "--evidence", str(evidence), *rollup,
                            "--out", str(out / "rollup-evidence.html")],
        "rollup-evidence-all-lines": [*CLI, "report", "--evidence", str(evidence), *rollup, "--all-lines",
                                      "--out", str(out / "rollup-evidence-all.html")],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="reuse bench/out/sync-N when it is there")
    args = parser.parse_args()
    work = OUT / f"sync-{args.dossiers}"
    if not (args.keep and (work / "ledger.db").exists()):
        seconds, _, peak, size = sync(args.dossiers)
        print(f"ledger built by `isobridge sync` in {seconds:.0f} s (peak {peak:.0f} MB, {size:,.0f} bytes/dossier)")
    (OUT / "rollup").mkdir(parents=True, exist_ok=True)
    print(f"\n{args.dossiers:,} dossiers ({os.cpu_count()} cores)\n")
    print("| command | wall s | CPU s | peak RSS MB |\n|---|---:|---:|---:|")
    for name, command in commands(work).items():
        seconds, cpu, peak = run(command)
        print(f"| {name} | {seconds:.1f} | {cpu:.1f} | {peak:.0f} |", flush=True)


if __name__ == "__main__":
    main()
