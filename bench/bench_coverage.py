"""Benchmark of `isobridge coverage` on a 1 000 000-dossier ledger: time and peak memory.

Usage: python bench/bench_coverage.py [--dossiers 1000000]

The ledger is built by bench_sync.py's helpers (a generated case log synced by the real
`isobridge sync`; kept in bench/out/sync-N/ between runs of bench_sync). Then, each in its own
process: a plain read of every stored record (`Ledger.iter_records(evidence=False)`: what coverage
reads, the floor), and the
`coverage` command against the bundled sample catalogue (count, drift, HTML and CSV).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_sync import CLI, OUT, run, sync  # noqa: E402 - the bench folder is not a package

READ = ("import sys; from isobridge.core.ledger import Ledger; ledger = Ledger(sys.argv[1]);"
        " print(sum(1 for _ in ledger.iter_records(evidence=False)))")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=1_000_000)
    args = parser.parse_args()
    from isobridge.core.report.catalogue import SAMPLE_CATALOGUE

    work = OUT / f"sync-{args.dossiers}"
    if (work / "ledger.db").exists():
        built = "reused"
    else:
        seconds, _, peak, size = sync(args.dossiers)
        built = f"synced in {seconds:.0f} s, peak {peak:.0f} MB, {size:,.0f} bytes/dossier"
    ledger = work / "ledger.db"
    read = run([sys.executable, "-c", READ, str(ledger)])
    coverage = run([*CLI, "coverage", "--config", str(work / "conf.toml"), "--catalogue", str(SAMPLE_CATALOGUE),
                    "--out", str(OUT / "coverage.html")])
    print(f"\n{args.dossiers:,} dossiers in the ledger ({built}; {os.path.getsize(ledger) / 1e6:,.0f} MB,"
          f" {os.cpu_count()} cores)\n")
    print("| phase | wall s | CPU s | dossiers/s | peak RSS MB |\n|---|---:|---:|---:|---:|")
    for name, (seconds, cpu, peak) in (("read every record", read), ("coverage + drift", coverage)):
        print(f"| {name} | {seconds:.1f} | {cpu:.1f} | {args.dossiers / seconds:,.0f} | {peak:.0f} |")


if __name__ == "__main__":
    main()
