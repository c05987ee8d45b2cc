"""A sync interrupted by Ctrl-C ends with exit 130 and one line, and `runs` shows it failed, not ok."""

from __future__ import annotations

from pathlib import Path

import pytest

from isobridge.core.adapters import CheckResult, Source
from isobridge.core.cli import main
from isobridge.core.ledger import Ledger
from isobridge.core.plugins import load_plugins
from isobridge.core.settings import load_settings
from isobridge.core.sync import SyncJob
from isobridge.testing import KitPlugin


class Interrupted(Source):
    """A source whose listing is interrupted by the operator."""

    name = "interrupted"

    def check(self) -> CheckResult:
        """Always reachable."""
        return CheckResult(True, "ok")

    def pages(self, cursor):
        """Ctrl-C while the first page is read."""
        raise KeyboardInterrupt
        yield  # pragma: no cover

    def map(self, record):
        """Never called."""
        return []


def test_an_interrupted_run_is_recorded_as_failed(tmp_path: Path, capsys) -> None:
    config = tmp_path / "conf.toml"
    config.write_text('[ledger]\npath = "ledger.db"\n[sources.x]\nadapter = "interrupted"\n')
    settings = load_settings(config)
    ledger = Ledger(settings.ledger.path)
    job = SyncJob(settings, load_plugins(extra=[KitPlugin([Interrupted], [])]), ledger, base_dir=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        job.run()
    ledger.close()
    assert main(["runs", "--config", str(config)]) == 0
    row = capsys.readouterr().out.splitlines()[1].split("\t")
    assert row[4] == "failed" and row[-1] == "interrupted", row


def test_sigterm_stops_a_sync_cleanly_and_releases_the_lock(tmp_path: Path) -> None:
    """`systemctl stop` or a Kubernetes pod ending sends SIGTERM while a request hangs: one line,
    exit 130, the run recorded as interrupted and the lock free for the next run at once."""
    import signal
    import socket
    import subprocess
    import sys
    import time

    script = Path(sys.executable).with_name("isobridge")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "isobridge.core.cli"]
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        config = tmp_path / "conf.toml"
        config.write_text(f"""[ledger]\npath = "ledger.db"\n[sources.igate]\nadapter = "rest"\nprofile = "igate"
base_url = "http://127.0.0.1:{server.getsockname()[1]}/"\nhttp = {{ max_attempts = 1, read_timeout = 120 }}\n""")
        sync = subprocess.Popen(command + ["sync", "--config", str(config)], stderr=subprocess.PIPE, text=True)
        server.settimeout(60)
        connection, _ = server.accept()  # the request is under way and will never be answered
        time.sleep(0.5)
        sync.send_signal(signal.SIGTERM)
        err = sync.communicate(timeout=60)[1]
        connection.close()
    assert sync.returncode == 130, err
    assert err.strip().splitlines() == ["isobridge: interrupted"], err
    runs = subprocess.run(command + ["runs", "--config", str(config)], capture_output=True, text=True, timeout=60)
    assert runs.stdout.splitlines()[1].split("\t")[4] == "failed" and runs.stdout.rstrip().endswith("interrupted")
    ledger = Ledger(tmp_path / "ledger.db")
    ledger.acquire("source:onestop", 60)  # released: the next run need not wait
    ledger.close()


def test_forked_workers_keep_the_default_sigterm() -> None:
    """The pool ends a broken run's workers with SIGTERM: they must die at once, not run the sync's
    handler (a worker flushing a full result pipe would then never exit and the run would hang)."""
    import multiprocessing
    import signal

    from isobridge.core.cli import sync as cli_sync

    previous = signal.signal(signal.SIGTERM, cli_sync._stop)
    try:
        context = multiprocessing.get_context("fork")
        answer = context.SimpleQueue()
        child = context.Process(target=lambda: answer.put(signal.getsignal(signal.SIGTERM) == signal.SIG_DFL))
        child.start()
        child.join(30)
        assert answer.get() is True
    finally:
        signal.signal(signal.SIGTERM, previous)
