"""A throwaway PostgreSQL server for the test session: the ledger's tests run on it as on SQLite.

The server binaries come from the OS packages (Debian's `postgresql`; `.ci/run` installs them).
PostgreSQL refuses to run as root, so under root the cluster belongs to the `postgres` user (made
by the package) and its commands run through `runuser`. One cluster per session, one database per
test. Durability settings are off by default: the tests kill clients, never this server (a
benchmark asks for `durable=True`: PostgreSQL's defaults, fsync and synchronous commit on).
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

USER = "isobridge"
_DATABASES = itertools.count()


def server_binaries() -> Path | None:
    """The folder of `initdb` and `pg_ctl`: $ISOBRIDGE_TEST_PG_BINDIR, `pg_config --bindir`, the
    newest /usr/lib/postgresql/N/bin, else the PATH; None when PostgreSQL is not installed."""
    candidates = [os.environ.get("ISOBRIDGE_TEST_PG_BINDIR")]
    if shutil.which("pg_config"):
        candidates.append(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip())
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    candidates += [str(path) for path in reversed(versions)]
    candidates.append(str(Path(shutil.which("initdb")).parent) if shutil.which("initdb") else None)
    for folder in filter(None, candidates):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """One cluster in a temporary folder, listening on 127.0.0.1 (trust authentication)."""

    def __init__(self, binaries: Path, durable: bool = False):
        self.binaries, self.durable = binaries, durable
        self.folder = Path(tempfile.mkdtemp(prefix="isobridge-pg-"))
        self.port = _free_port()
        self.owner = "postgres" if os.geteuid() == 0 else None

    def _run(self, *command: str) -> None:
        argv = [str(self.binaries / command[0]), *command[1:]]
        if self.owner:
            argv = ["runuser", "-u", self.owner, "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(f"{command[0]} failed: {done.stderr.strip() or done.stdout.strip()}")

    def start(self) -> "PostgresServer":
        """initdb, then start the server and wait until it accepts connections."""
        if self.owner:
            user = pwd.getpwnam(self.owner)
            os.chown(self.folder, user.pw_uid, user.pw_gid)
        data = self.folder / "data"
        self._run("initdb", "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c max_connections=200"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(data), "-o", options, "-l", str(self.folder / "log"), "-w", "start")
        return self

    def url(self, database: str = "postgres") -> str:
        """The URL of a database on this server."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(_DATABASES)}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        try:
            self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
