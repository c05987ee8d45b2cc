"""Benchmark `isobridge evaluate` end to end against the json.loads floor.

For each size, generate (once, cached under bench/out/) a synthetic case log, then in the same run:
  * floor: time to merely `json.loads` every line of the file (stdlib, one core, in this process);
  * evaluate: `isobridge evaluate FILE --out ...` as a subprocess, wall time and peak memory.
Peak memory is sampled from /proc every 250 ms as the summed PSS of the command and its worker
processes (shared copy-on-write pages counted once), and also reported as the largest single
process's maximum RSS (getrusage RUSAGE_CHILDREN). The CPU time (user + system) of the command and
all its workers is reported too: on a shared machine it moves much less than the wall clock.

    python bench/bench_evaluate.py                  # 100 000 and 1 000 000 dossiers
    python bench/bench_evaluate.py --sizes 100000 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
AS_OF = "2026-11-01T00:00:00+07:00"


def isobridge() -> list[str]:
    """The console script next to this interpreter, else the module entry point."""
    script = Path(sys.executable).with_name("isobridge")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from isobridge.core.cli import main; sys.exit(main())"]


def case_log(size: int) -> Path:
    """The cached synthetic case log of `size` dossiers (generated on first use)."""
    OUT.mkdir(exist_ok=True)
    path = OUT / f"cases-{size}.jsonl"
    if not path.exists():
        partial = path.with_suffix(".partial")
        subprocess.run([*isobridge(), "generate", "--dossiers", str(size), "--out", str(partial)], check=True)
        partial.rename(path)
    return path


def floor(path: Path) -> tuple[float, int, int]:
    """Seconds to json.loads every line, with the dossier and event counts."""
    dossiers = events = 0
    started = time.perf_counter()
    with open(path, "rb") as lines:
        for line in lines:
            record = json.loads(line)
            dossiers += 1
            events += len(record["events"])
    return time.perf_counter() - started, dossiers, events


SAMPLE_SECONDS = 0.25
"""How often peak memory is sampled. Reading /proc/PID/smaps_rollup of the command and its workers
every 20 ms took about a tenth of a core from the run it measures (1 000 000 dossiers: 16.0–16.4 s
sampled every 20 ms, 14.6 s unsampled); memory here is flat, so 250 ms loses no peak."""


def _tree(pid: int) -> list[int]:
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        queue.extend(int(child) for child in children)
    return found


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def evaluate(path: Path, workers: int | None) -> tuple[float, float, float, float, str]:
    """(seconds, CPU seconds, peak summed PSS MB, largest process max RSS MB, summary line) of one run."""
    target = OUT / f"evidence-{path.stem.split('-')[-1]}.jsonl"
    command = [*isobridge(), "evaluate", str(path), "--out", str(target), "--as-of", AS_OF]
    if workers:
        command += ["--workers", str(workers)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    cpu_before = _children_cpu()
    started = time.perf_counter()
    process = subprocess.Popen(command, stderr=subprocess.PIPE)
    peak = [0]

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], sum(_pss_kb(pid) for pid in _tree(process.pid)))
            time.sleep(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = process.communicate()
    elapsed = time.perf_counter() - started
    sampler.join()
    if process.returncode not in (0, 3):
        raise SystemExit(f"evaluate failed ({process.returncode}): {err.decode()}")
    max_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    cpu = _children_cpu() - cpu_before
    return elapsed, cpu, peak[0] / 1024, max(max_rss, before) / 1024, err.decode().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--workers", type=int, default=None, help="passed to isobridge evaluate")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}", flush=True)
    rows = []
    for size in args.sizes:
        path = case_log(size)
        floor_s, dossiers, events = floor(path)
        seconds, cpu, pss, rss, summary = evaluate(path, args.workers)
        load = os.getloadavg()[0]
        print(summary, f"(load average {load:.2f})", flush=True)
        rows.append((dossiers, events, seconds, events / seconds, seconds / floor_s, floor_s, cpu, pss, rss, load))
    print()
    print("| dossiers | events | seconds | events/s | ratio to floor | floor s (json.loads) | CPU s (all processes) | CPU µs/dossier | peak MB (PSS, all processes) | max RSS MB (largest process) | load average (1 min, after) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for d, e, s, rate, ratio, fs, cpu, pss, rss, load in rows:
        print(f"| {d:,} | {e:,} | {s:.2f} | {rate:,.0f} | {ratio:.2f}× | {fs:.2f} | {cpu:.2f} | {cpu / d * 1e6:.1f} | {pss:.0f} | {rss:.0f} | {load:.2f} |")


if __name__ == "__main__":
    main()
