"""What a failed run reports (the runs table, the `run_finished` hook) never carries a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from isobridge.core import logs
from isobridge.core.cli import main
from isobridge.core.ledger import Ledger
from isobridge.core.plugins import load_plugins
from isobridge.core.settings import load_settings
from isobridge.core.sync import SyncJob

SECRET = "t0ken-Zq9-never-shown"


def test_a_failed_runs_error_is_masked_before_the_hooks_and_the_runs_table(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "conf.toml").write_text(
        '[ledger]\npath = "ledger.db"\n[sources.s]\nadapter = "caselog"\nfolder = "in"\n'
        '[sinks.e]\nadapter = "jsonl"\npath = "out/e.jsonl"\n', encoding="utf-8")
    logs.register_secret(SECRET)
    settings = load_settings(tmp_path / "conf.toml")
    job = SyncJob(settings, load_plugins(), Ledger(settings.ledger.path), base_dir=tmp_path)
    seen = []
    monkeypatch.setattr(job.registry.hook, "run_finished", lambda run, report: seen.append(report.error))

    def fail(name, sinks):
        raise RuntimeError(f"server said: bad token {SECRET}")

    monkeypatch.setattr(job, "_sync_locked", fail)
    with pytest.raises(RuntimeError):
        job.run()
    assert seen and "bad token" in seen[0] and SECRET not in seen[0]
    (stored,) = Ledger(settings.ledger.path).db.execute("SELECT error FROM runs").fetchone()
    assert SECRET not in stored


def test_a_quarantine_id_that_is_no_number_is_a_usage_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "conf.toml").write_text('[ledger]\npath = "ledger.db"\n', encoding="utf-8")
    with pytest.raises(SystemExit) as exit_:
        main(["quarantine", "show", "abc", "--config", str(tmp_path / "conf.toml")])
    assert exit_.value.code == 2 and "'abc' is not an entry id" in capsys.readouterr().err
