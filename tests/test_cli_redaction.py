"""Everything a command prints goes through `isobridge.core.logs.redact`: a secret of the loaded
settings that reached the ledger (a run's error, a checkpoint cursor, a quarantined payload) is
masked in `runs`, `state show` and `quarantine list/show`, as it is in `check`."""

from __future__ import annotations

from pathlib import Path

import pytest

from isobridge.core.cli import main
from isobridge.core.ledger import Ledger
from isobridge.core.runs import QuarantineEntry, RunReport

TOKEN = "tok-9f8e7d6c5b4a"


@pytest.fixture
def config(tmp_path: Path, monkeypatch) -> Path:
    """A deployment whose source token leaked into its ledger before redaction got stronger."""
    path = tmp_path / "conf.toml"
    path.write_text('[ledger]\npath = "ledger.db"\n[sources.igate]\nadapter = "rest"\nprofile = "igate"\n'
                    'base_url = "https://igate.example.gov.vn/"\n', encoding="utf-8")
    monkeypatch.setenv("ISOBRIDGE_SOURCES__IGATE__TOKEN", TOKEN)
    ledger = Ledger(tmp_path / "ledger.db")
    run_id, _ = ledger.start_run(["igate"])
    ledger.finish_run(run_id, RunReport(outcome="failed", error=f"GET /dossiers?access_token={TOKEN}: 503"))
    with ledger.transaction() as db:
        ledger.set_checkpoint(db, "igate", f"https://igate.example.gov.vn/next?token={TOKEN}&page=3")
        ledger.quarantine(db, QuarantineEntry("igate", "HS-1", "map", f'{{"auth": "{TOKEN}"}}',
                                              [f"bad token {TOKEN}"]), run_id)
    ledger.close()
    return path


@pytest.mark.parametrize("command", [["runs"], ["state", "show"], ["quarantine", "list"], ["quarantine", "show", "1"]],
                         ids=" ".join)
def test_ledger_listings_mask_the_settings_secrets(config: Path, capsys, command) -> None:
    assert main([*command, "--config", str(config)]) == 0
    out, err = capsys.readouterr()
    assert TOKEN not in out + err
    assert "***" in out


def test_secrets_in_urls_and_with_a_trailing_newline_are_masked(tmp_path: Path, monkeypatch, capsys) -> None:
    """A token in an endpoint's query string, a password in its user info and a bearer token read
    from a secret file with its newline are masked wherever a command prints them."""
    from isobridge.core import logs
    from isobridge.core.settings import load_settings

    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "sinks__qms__auth__token").write_text("bearer-7Hq2+x/9\n")
    config = tmp_path / "conf.toml"
    config.write_text('[ledger]\npath = "ledger.db"\n[sinks.qms]\nadapter = "rest"\n'
                      'url = "https://qms:pw-K3y5ecret@iso.example.gov.vn/api?access_token=qs-T0ken-99&x=1"\n'
                      'auth = { type = "bearer" }\n', encoding="utf-8")
    monkeypatch.setenv("ISOBRIDGE_SECRETS_DIR", str(secrets))
    logs.configure("text", "INFO", load_settings(config).secrets())
    for leaked in ("pw-K3y5ecret", "qs-T0ken-99", "bearer-7Hq2+x/9", "bearer-7Hq2%2Bx%2F9"):
        assert logs.redact(f"sent {leaked} to the server") == "sent *** to the server", leaked
