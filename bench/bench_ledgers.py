"""Benchmark: the ledger backends. `isobridge sync` on SQLite and on PostgreSQL, one source or two
(in sequence, in parallel processes), against `isobridge evaluate` of the same case log.

The case log (`isobridge generate --dossiers N`, one line per dossier) is split in two halves, the
folders of two caselog sources `a` and `b`; "one source" reads both halves from one folder. Every
sync starts from a fresh ledger and delivers to one jsonl sink. The two parallel syncs on PostgreSQL
run twice: with the default workers (each process one per core) and with `[sync] workers` halved
(the cores shared between them). The PostgreSQL server is a
throwaway cluster (tests/pg_support.py) with PostgreSQL's default durability: fsync and
synchronous_commit on, as a real deployment runs it.

Usage: python bench/bench_ledgers.py [--rounds N] [--tree TREE] [DOSSIERS]   (default 200000)

Prints wall seconds, CPU seconds (the command, its workers and, on PostgreSQL, the server's
backends), peak RSS of the largest process, the ledger's bytes per dossier (SQLite: the file
after VACUUM; PostgreSQL: pg_total_relation_size of its tables after VACUUM FULL) and the ratios
issue 15 sets targets for. Each case runs `--rounds` times (default 3), in turn with the others;
the table shows each case's fastest round (the machine may be shared), the load average says how
busy it was. `--tree TREE` measures another version instead (see bench_sync.py's `--against`).
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
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bench_sync import AS_OF, CLI, OUT, case_log, run  # noqa: E402
from pg_support import PostgresServer, server_binaries  # noqa: E402

from isobridge.core.workers import usable_cores  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
SHARED = f"sync PostgreSQL, a and b in parallel, [sync] workers = {max(usable_cores() // 2, 1)} each"
"""The parallel syncs sharing the cores between them: each with half the workers it starts by default."""
SINK = '[sinks.evidence]\nadapter = "jsonl"\npath = "evidence.jsonl"\n'


@dataclass
class Figures:
    """One measured case."""

    case: str
    seconds: float
    cpu: float
    server_cpu: float
    peak_mb: float
    bytes_per_dossier: float | None = None


def split(count: int) -> Path:
    """Folders `all` (the whole case log), `a` and `b` (its two halves, by line)."""
    cases, folder = case_log(count), OUT / f"ledgers-{count}"
    if not (folder / "b" / "half.jsonl").exists():
        shutil.rmtree(folder, ignore_errors=True)
        for name in ("all", "a", "b"):
            (folder / name).mkdir(parents=True)
        (folder / "all" / cases.name).symlink_to(cases)
        with cases.open("rb") as lines, (folder / "a" / "half.jsonl").open("wb") as first, \
                (folder / "b" / "half.jsonl").open("wb") as second:
            for number, line in enumerate(lines):
                (first if number < count // 2 else second).write(line)
    return folder


def deployment(folder: Path, name: str, ledger: str, sources: dict[str, str]) -> Path:
    """A fresh deployment folder with its settings; the path of its settings file."""
    work = OUT / f"run-{name}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    toml = ledger + "".join(f'[sources.{source}]\nadapter = "caselog"\nfolder = "{folder / part}"\n'
                            for source, part in sources.items())
    (work / "conf.toml").write_text(toml + SINK)
    return work / "conf.toml"


def sync_command(conf: Path, source: str | None = None) -> list[str]:
    """The sync of one source (None: every configured source)."""
    return [*CLI, "sync", "--config", str(conf), "--as-of", AS_OF, *(["--source", source] if source else [])]


def run_together(commands: list[list[str]], tree: Path | None, settings: dict[str, str]) -> tuple[float, float, float]:
    """`run` for commands started at the same time (with `settings` in their environment): seconds
    until the last ends, CPU of all, the largest peak MB."""
    env = dict(os.environ, **settings, **({"PYTHONPATH": str(tree)} if tree else {}))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    processes = [subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
                 for command in commands]
    peak = 0.0
    for process in processes:
        _, status, usage = os.wait4(process.pid, 0)
        if status:
            raise SystemExit(f"{process.args[4:]} failed ({status}): {process.stderr.read().decode()[-2000:]}")
        peak = max(peak, usage.ru_maxrss / 1024)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return seconds, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, peak


class Server:
    """The benchmark's PostgreSQL server (durable) and the CPU its processes used."""

    def __init__(self) -> None:
        binaries = server_binaries()
        if binaries is None:
            raise SystemExit("PostgreSQL server binaries not found (set ISOBRIDGE_TEST_PG_BINDIR)")
        self.server = PostgresServer(binaries, durable=True).start()

    def cpu(self) -> float:
        """CPU seconds of the postmaster, its live processes and the backends it reaped."""
        postmaster = int((self.server.folder / "data" / "postmaster.pid").read_text().split()[0])
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            pid, parent = int(stat.parent.name), int(fields[1])
            if pid == postmaster:
                total += sum(map(int, fields[11:15]))  # utime stime cutime cstime
            elif parent == postmaster:
                total += sum(map(int, fields[11:13]))
        return total / TICK

    def ledger(self) -> tuple[str, str]:
        """A new database with the ledger's schema: its `[ledger]` table and URL."""
        url = self.server.new_database()
        return f'[ledger]\nurl = "{url}"\n', url

    def settings(self) -> dict[str, str]:
        """The server's durability settings, as it reports them."""
        import psycopg

        with psycopg.connect(self.server.url()) as db:
            return {name: db.execute(f"SHOW {name}").fetchone()[0]
                    for name in ("fsync", "synchronous_commit", "full_page_writes", "wal_level", "shared_buffers")}


def migrate(conf: Path, tree: Path | None) -> None:
    env = dict(os.environ, PYTHONPATH=str(tree)) if tree else None
    subprocess.run([*CLI, "state", "migrate", "--config", str(conf)], check=True, stdout=subprocess.DEVNULL, env=env)


def sqlite_size(conf: Path, count: int) -> float:
    path = conf.parent / "ledger.db"
    with sqlite3.connect(path) as db:
        db.execute("VACUUM")
    return os.path.getsize(path) / count


def postgres_size(url: str, count: int) -> float:
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        db.execute("VACUUM FULL")
        total = db.execute("SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n"
                           " ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'").fetchone()[0]
    return float(total) / count


def measure(count: int, server: Server, tree: Path | None) -> list[Figures]:
    """Every case, once."""
    folder, figures = split(count), []
    both = {"a": "a", "b": "b"}

    def timed(case: str, commands: list[list[str]], postgres: bool, settings: dict[str, str] | None = None) -> Figures:
        before = server.cpu() if postgres else 0.0
        seconds, cpu, peak = run(commands[0], tree) if len(commands) == 1 else run_together(commands, tree, settings or {})
        time.sleep(0.3)  # let the server reap the backends of the connections just closed
        found = Figures(case, seconds, cpu, server.cpu() - before if postgres else 0.0, peak)
        print(f"  {case}: {seconds:.1f} s", file=sys.stderr, flush=True)
        return found

    figures.append(timed("evaluate", [[*CLI, "evaluate", str(case_log(count)), "--as-of", AS_OF,
                                       "--out", str(OUT / f"plain-{count}.jsonl")]], False))

    conf = deployment(folder, "sqlite-one", '[ledger]\npath = "ledger.db"\n', {"all": "all"})
    figures.append(timed("sync SQLite, one source", [sync_command(conf)], False))
    figures[-1].bytes_per_dossier = sqlite_size(conf, count)

    toml, url = server.ledger()
    conf = deployment(folder, "pg-one", toml, {"all": "all"})
    migrate(conf, tree)
    figures.append(timed("sync PostgreSQL, one source", [sync_command(conf)], True))
    figures[-1].bytes_per_dossier = postgres_size(url, count)

    toml, url = server.ledger()
    conf = deployment(folder, "pg-sequence", toml, both)
    migrate(conf, tree)
    first = timed("-", [sync_command(conf, "a")], True)
    second = timed("-", [sync_command(conf, "b")], True)
    figures.append(Figures("sync PostgreSQL, a then b", first.seconds + second.seconds, first.cpu + second.cpu,
                           first.server_cpu + second.server_cpu, max(first.peak_mb, second.peak_mb),
                           postgres_size(url, count)))

    toml, url = server.ledger()
    conf = deployment(folder, "pg-parallel", toml, both)
    migrate(conf, tree)
    figures.append(timed("sync PostgreSQL, a and b in parallel", [sync_command(conf, "a"), sync_command(conf, "b")], True))
    figures[-1].bytes_per_dossier = postgres_size(url, count)

    toml, url = server.ledger()
    conf = deployment(folder, "pg-parallel-shared", toml, both)
    migrate(conf, tree)
    figures.append(timed(SHARED, [sync_command(conf, "a"), sync_command(conf, "b")], True,
                         {"ISOBRIDGE_SYNC__WORKERS": str(max(usable_cores() // 2, 1))}))
    figures[-1].bytes_per_dossier = postgres_size(url, count)

    conf = deployment(folder, "sqlite-sequence", '[ledger]\npath = "ledger.db"\n', both)
    first = timed("-", [sync_command(conf, "a")], False)
    second = timed("-", [sync_command(conf, "b")], False)
    figures.append(Figures("sync SQLite, a then b", first.seconds + second.seconds, first.cpu + second.cpu, 0.0,
                           max(first.peak_mb, second.peak_mb), sqlite_size(conf, count)))

    conf = deployment(folder, "sqlite-parallel", '[ledger]\npath = "ledger.db"\n', both)
    try:
        figures.append(timed("sync SQLite, a and b in parallel", [sync_command(conf, "a"), sync_command(conf, "b")], False))
        figures[-1].bytes_per_dossier = sqlite_size(conf, count)
    except SystemExit as exc:
        print(f"sync SQLite, a and b in parallel: did not work: {exc}")
    return figures


def fastest(rounds: list[list[Figures]]) -> list[Figures]:
    """Each case's fastest round."""
    cases: dict[str, list[Figures]] = {}
    for figures in rounds:
        for found in figures:
            cases.setdefault(found.case, []).append(found)
    return [min(same, key=lambda f: f.seconds) for same in cases.values()]


def table(count: int, figures: list[Figures], rounds: int) -> None:
    print(f"\n{count:,} dossiers, {os.cpu_count()} cores, fastest of {rounds} round(s)\n")
    print("| case | wall s | dossiers/s | CPU s (isobridge) | CPU s (PostgreSQL server) | peak MB | ledger bytes/dossier |")
    print("|---|---|---|---|---|---|---|")
    for f in figures:
        size = f"{f.bytes_per_dossier:,.0f}" if f.bytes_per_dossier else "—"
        server = f"{f.server_cpu:.1f}" if f.server_cpu else "—"
        print(f"| {f.case} | {f.seconds:.1f} | {count / f.seconds:,.0f} | {f.cpu:.1f} | {server} | {f.peak_mb:.0f} | {size} |")
    by = {f.case: f for f in figures}
    evaluate = by["evaluate"].seconds
    ratios = [
        ("PostgreSQL / SQLite, one source (wall)", by["sync PostgreSQL, one source"].seconds
         / by["sync SQLite, one source"].seconds, "≤ 1.5"),
        ("PostgreSQL / SQLite, one source (CPU, with the server's)",
         (by["sync PostgreSQL, one source"].cpu + by["sync PostgreSQL, one source"].server_cpu)
         / by["sync SQLite, one source"].cpu, "—"),
        ("PostgreSQL parallel / sequence (wall)", by["sync PostgreSQL, a and b in parallel"].seconds
         / by["sync PostgreSQL, a then b"].seconds, "< 1"),
        (f"PostgreSQL parallel, {SHARED.rpartition(', ')[2]} / sequence (wall)", by[SHARED].seconds
         / by["sync PostgreSQL, a then b"].seconds, "< 1"),
        ("sync SQLite / evaluate (wall)", by["sync SQLite, one source"].seconds / evaluate, "≤ 2"),
        ("sync PostgreSQL / evaluate (wall)", by["sync PostgreSQL, one source"].seconds / evaluate, "≤ 2"),
    ]
    if "sync SQLite, a and b in parallel" in by:
        ratios.append(("SQLite parallel / sequence (wall)", by["sync SQLite, a and b in parallel"].seconds
                       / by["sync SQLite, a then b"].seconds, "—"))
    print("\n| ratio | measured | target |\n|---|---|---|")
    for name, value, target in ratios:
        print(f"| {name} | {value:.2f}× | {target} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dossiers", nargs="?", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tree", type=Path, help="tree of another version to measure instead of this one")
    args = parser.parse_args()
    tree = args.tree.resolve() if args.tree else None
    server = Server()
    try:
        settings = server.settings()
        print("PostgreSQL server: " + ", ".join(f"{name}={value}" for name, value in settings.items())
              + " (durable: fsync and synchronous_commit as in a deployment)")
        print(f"load average before: {os.getloadavg()}", flush=True)
        rounds = [measure(args.dossiers, server, tree) for _ in range(args.rounds)]
        print(f"load average after: {os.getloadavg()}")
        table(args.dossiers, fastest(rounds), args.rounds)
    finally:
        server.server.stop()


if __name__ == "__main__":
    main()
