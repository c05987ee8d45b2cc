"""A rest source's relative `profile` path is relative to the configuration file, not the working folder."""

from __future__ import annotations

from pathlib import Path

from isobridge.core.cli import main

PROFILE = """
[profile]
name = "relative"
[records]
path = "items"
items = "items"
[paging]
style = "none"
[fields]
key = "id"
dossier = "code"
procedure = "procedure"
received_at = "received"
status = "status"
[status]
"4" = 4
"""


def test_a_relative_profile_resolves_against_the_configuration_file(httpserver, tmp_path, monkeypatch, capsys) -> None:
    deployment, elsewhere = tmp_path / "etc", tmp_path / "cron-home"
    deployment.mkdir()
    elsewhere.mkdir()
    (deployment / "vendor.toml").write_text(PROFILE, encoding="utf-8")
    (deployment / "conf.toml").write_text(
        f'[ledger]\npath = "ledger.db"\n'
        f'[sources.vendor]\nadapter = "rest"\nprofile = "vendor.toml"\nbase_url = "{httpserver.url_for("/")}"\n'
        f'[sinks.evidence]\nadapter = "jsonl"\npath = "evidence.jsonl"\n', encoding="utf-8")
    httpserver.expect_request("/items").respond_with_json({"items": [
        {"id": "r1", "code": "D-1", "procedure": "1.001612", "received": "2026-03-02T09:30:00+07:00", "status": 4}]})
    monkeypatch.chdir(elsewhere)  # as cron does: the working folder is not the deployment's
    status = main(["sync", "--config", str(deployment / "conf.toml")])
    assert status == 0, capsys.readouterr().err
    assert Path(deployment / "evidence.jsonl").read_text(encoding="utf-8").count("D-1") == 1
