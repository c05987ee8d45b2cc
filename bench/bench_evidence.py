"""Benchmark of the evidence outputs: the report over 1 000 000 dossiers, XES export vs JSON Lines.

Usage: python bench/bench_evidence.py [--dossiers 1000000] [--pool 20000] [--out bench/out]

A pool of real evidence records is made by the engine from a generated case log; the phases
stream N records from it (dossier codes made unique), each phase in its own process so its
peak memory (max RSS) is its own:

- report: aggregation + HTML + full ledger/nonconformity CSVs (the `isobridge report` core);
- xes-sink: the `xes` sink, batches of 1000, key index and fsync per batch as in production;
- xes-sink-nofsync: the same without fsync (the cost of the key index alone);
- xes-text: the same traces written straight to a file (no key index, no fsync);
- jsonl: the same events (one per start/complete of each step row) as plain JSON Lines.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import orjson

BATCH = 1000


def make_pool(path: Path, count: int) -> None:
    """Evaluate a generated case log of `count` dossiers into an evidence pool file."""
    from isobridge.core import samples
    from isobridge.core.calendar import WorkingCalendar
    from isobridge.core.engine import Evaluator
    from isobridge.core.generate import CaseLogGenerator
    from isobridge.core.procedures import ProcedureBook

    book = ProcedureBook.from_dir(samples.PROCEDURES)
    calendar = WorkingCalendar.from_file(samples.CALENDAR)
    as_of = int(datetime.fromisoformat("2026-11-01T00:00:00+07:00").timestamp())
    evaluator = Evaluator(book, calendar, as_of=as_of)
    with open(path, "wb") as out:
        for record in CaseLogGenerator(book, calendar, 766).records(count):
            out.write(orjson.dumps(evaluator.evaluate_record(record)) + b"\n")


def stream(pool: Path, count: int):
    """`count` evidence dicts cycling over the pool, each with a unique dossier code."""
    records = [orjson.loads(line) for line in pool.read_bytes().splitlines()]
    for index in range(count):
        record = dict(records[index % len(records)])
        record["dossier"] = f"{record['dossier']}-{index // len(records)}"
        yield record


def batches(pool: Path, count: int):
    from isobridge.core.adapters import EvidenceItem

    batch = []
    for record in stream(pool, count):
        batch.append(EvidenceItem(record["dossier"], 1, record))
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _size_and_drop(path: Path) -> str:
    """The file's size; the file is removed unless ISOBRIDGE_BENCH_KEEP is set (they are GBs)."""
    size = path.stat().st_size
    if not os.environ.get("ISOBRIDGE_BENCH_KEEP"):
        path.unlink()
        path.with_name(path.name + ".keys.sqlite").unlink(missing_ok=True)
    return f"{size / 1e6:,.0f} MB"


def phase_report(pool: Path, count: int, out: Path) -> str:
    from isobridge.core import samples
    from isobridge.core.report.build import write_report
    from isobridge.core.report.names import ProcedureNames

    data, files = write_report(stream(pool, count), out / "report.html",
                               names=ProcedureNames.from_dir(samples.PROCEDURES))
    return f"{data.total.dossiers} dossiers, html {files.html.stat().st_size / 1e6:.1f} MB"


def phase_xes_sink(pool: Path, count: int, out: Path, fsync: bool = True) -> str:
    from isobridge.adapters.xes.sink import XesOptions, XesSink
    from isobridge.core.adapters import AdapterContext
    from isobridge.core.privacy import Pseudonymizer

    path = out / "evidence.xes"
    for stale in (path, path.with_name(path.name + ".keys.sqlite")):
        stale.unlink(missing_ok=True)
    options = XesOptions(adapter="xes", path=path, fsync=fsync)
    sink = XesSink(options, AdapterContext("bench", Pseudonymizer("bench")))
    for batch in batches(pool, count):
        sink.write(batch)
    sink.close()
    return _size_and_drop(path)


def phase_xes_text(pool: Path, count: int, out: Path) -> str:
    from isobridge.adapters.xes.document import TRAILER, header, trace
    from isobridge.core import samples
    from isobridge.core.report.names import ProcedureNames

    names = ProcedureNames.from_dir(samples.PROCEDURES)
    path = out / "evidence-text.xes"
    with open(path, "wb") as f:
        f.write(header("bench").encode())
        for batch in batches(pool, count):
            f.write("".join(trace(i.evidence, i.revision, names.step) for i in batch).encode())
        f.write(TRAILER.encode())
    return _size_and_drop(path)


def _jsonl_events(item, names) -> list[bytes]:
    e = item.evidence
    lines = []
    for row in e["steps"]:
        event = {"case": e["dossier"], "procedure": e["procedure"], "verdict": e["verdict"],
                 "revision": item.revision, "activity": names.step(e["procedure"], row["step"], e["received_at"]),
                 "step": row["step"], "group": row["unit"], "from_unit": row["from_unit"], "due_at": row["due_at"],
                 "allowed_minutes": row["allowed_minutes"], "at": row["started_at"], "lifecycle": "start"}
        lines.append(orjson.dumps(event))
        if row["finished_at"]:
            lines.append(orjson.dumps(event | {"at": row["finished_at"], "lifecycle": "complete",
                                               "used_minutes": row["used_minutes"], "step_verdict": row["verdict"]}))
    return lines


def phase_jsonl(pool: Path, count: int, out: Path) -> str:
    from isobridge.core import samples
    from isobridge.core.report.names import ProcedureNames

    names = ProcedureNames.from_dir(samples.PROCEDURES)
    path = out / "events.jsonl"
    with open(path, "wb") as f:
        for batch in batches(pool, count):
            f.write(b"\n".join(line for item in batch for line in _jsonl_events(item, names)) + b"\n")
    return _size_and_drop(path)


def phase_read(pool: Path, count: int, out: Path) -> str:
    """Baseline: only producing the records (subtract from the others for the output's own cost)."""
    return f"{sum(1 for _ in batches(pool, count))} batches"


PHASES = {"read": phase_read, "report": phase_report, "xes-sink": phase_xes_sink,
          "xes-sink-nofsync": lambda pool, count, out: phase_xes_sink(pool, count, out, fsync=False),
          "xes-text": phase_xes_text, "jsonl": phase_jsonl}


def run_phase(name: str, pool: Path, count: int, out: Path, script: str = __file__) -> tuple[float, float, str]:
    """Run a phase of `script` (this file by default) in a fresh process: (seconds, peak RSS MB, note)."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, script, "--phase", name, "--pool-file", str(pool),
                              "--dossiers", str(count), "--out", str(out)], stdout=subprocess.PIPE, text=True)
    note = child.stdout.read().strip()
    _, status, usage = os.wait4(child.pid, 0)
    if status:
        raise SystemExit(f"phase {name} failed ({status})")
    return time.perf_counter() - started, usage.ru_maxrss / 1024, note


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
    started = time.perf_counter()
    make_pool(pool, args.pool)
    print(f"pool: {args.pool} evidence records from the engine in {time.perf_counter() - started:.1f} s")
    results = {name: run_phase(name, pool, args.dossiers, out) for name in PHASES}
    base = results["read"][0]
    print(f"\n{args.dossiers:,} dossiers ({os.cpu_count()} cores)\n")
    print("| phase | wall s | minus record production s | peak RSS MB | output |")
    print("|---|---:|---:|---:|---|")
    for name, (seconds, rss, note) in results.items():
        print(f"| {name} | {seconds:.1f} | {max(seconds - base, 0):.1f} | {rss:.0f} | {note} |")
    jsonl = results["jsonl"][0] - base
    for name in ("xes-text", "xes-sink-nofsync", "xes-sink"):
        ratio = (results[name][0] - base) / jsonl if jsonl > 0 else float("nan")
        print(f"\n{name} / jsonl (own cost): {ratio:.2f}x (target ≤ 2x)", end="")
    print()


if __name__ == "__main__":
    main()
