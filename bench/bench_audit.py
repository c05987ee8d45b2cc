"""Benchmark of `isobridge audit-sample` over 1 000 000 dossiers: time and peak memory.

Usage: python bench/bench_audit.py [--dossiers 1000000] [--pool 20000] [--out bench/out]

The evidence pool and stream of bench_evidence.py (real engine output, dossier codes made unique)
feed the draw (first pass: counts and draw numbers), then the second pass that picks the drawn
dossiers' evidence, then the HTML and CSV working paper. Each phase runs in its own process.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_evidence import make_pool, run_phase, stream  # noqa: E402 - the bench folder is not a package


def phase_read(pool: Path, count: int, out: Path) -> str:
    return f"{sum(1 for _ in stream(pool, count))} records"


def phase_audit(pool: Path, count: int, out: Path) -> str:
    from isobridge.core import samples
    from isobridge.core.report.audit import collect, draw
    from isobridge.core.report.auditpaper import write_paper
    from isobridge.core.report.names import ProcedureNames

    plan = draw(stream(pool, count), seed=766)
    found = collect(stream(pool, count), plan.dossiers())
    html, _, drawn = write_paper(plan, found, out / "audit.html", ProcedureNames.from_dir(samples.PROCEDURES))
    total = sum(group.count for group in plan.groups.values())
    return f"{drawn} of {total} dossiers drawn, html {html.stat().st_size / 1e6:.1f} MB"


PHASES = {"read": phase_read, "audit": phase_audit}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=1_000_000)
    parser.add_argument("--pool", type=int, default=20_000)
    parser.add_argument("--out", default=str(Path(__file__).parent / "out"))
    parser.add_argument("--phase", choices=PHASES)
    parser.add_argument("--pool-file")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.phase:
        print(PHASES[args.phase](Path(args.pool_file), args.dossiers, out))
        return
    pool = out / "pool.jsonl"
    if not pool.exists():
        make_pool(pool, args.pool)
    results = {name: run_phase(name, pool, args.dossiers, out, __file__) for name in PHASES}
    print(f"\n{args.dossiers:,} dossiers ({os.cpu_count()} cores)\n")
    print("| phase | wall s | peak RSS MB | output |\n|---|---:|---:|---|")
    for name, (seconds, rss, note) in results.items():
        print(f"| {name} | {seconds:.1f} | {rss:.0f} | {note} |")


if __name__ == "__main__":
    main()
