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
