"""Operator commands against a fake OpenCPS: check, sync, mapping check, procedures import."""

from __future__ import annotations

import json
import re
import tomllib
from datetime import date
from pathlib import Path

import pytest

from fakes.opencps import FakeOpenCPS, make_dossiers
from isobridge.core.cli import main
from isobridge.core.models import Procedure

FAST = '{ backoff_seconds = 0.001, backoff_max_seconds = 0.01, rate_limit = 0, max_attempts = 3, read_timeout = 2 }'


@pytest.fixture
def deployment(tmp_path: Path, httpserver, monkeypatch) -> tuple[Path, FakeOpenCPS]:
    fake = FakeOpenCPS(make_dossiers(12, date(2026, 11, 2)))
    base = fake.install(httpserver)
    (tmp_path / "conf.toml").write_text(
        f'[ledger]\npath = "ledger.db"\n'
        f'[sources.onegate]\nadapter = "opencps"\nbase_url = "{base}"\nusername = "{fake.username}"\n'
        f'group_id = "{fake.group_id}"\nsince = "2026-11-01"\nhttp = {FAST}\n'
        f'[sinks.evidence]\nadapter = "jsonl"\npath = "evidence.jsonl"\n', encoding="utf-8")
    monkeypatch.setenv("ISOBRIDGE_SOURCES__ONEGATE__PASSWORD", fake.password)
    return tmp_path, fake


def run(folder: Path, *args: str) -> int:
    return main([*args, "--config", str(folder / "conf.toml")])


def test_check_reports_reachable_and_authenticated(deployment, capsys) -> None:
    folder, fake = deployment
    assert run(folder, "check") == 0
    out = capsys.readouterr().out
    assert "source onegate: ok" in out and "authenticated=True" in out
    assert fake.password not in out


def test_wrong_password_fails_check_without_showing_it(deployment, capsys, monkeypatch) -> None:
    folder, _ = deployment
    monkeypatch.setenv("ISOBRIDGE_SOURCES__ONEGATE__PASSWORD", "Wr0ng-Secret-Value")
    assert run(folder, "check") == 1
    captured = capsys.readouterr()
    assert "source onegate: FAILED" in captured.out
    assert "Wr0ng-Secret-Value" not in captured.out + captured.err


def test_sync_with_imported_procedures(deployment, capsys) -> None:
    """The quality team drafts procedures from the vendor's processes, reviews them, then syncs."""
    folder, _ = deployment
    assert run(folder, "procedures", "import", "--source", "onegate", "--out", str(folder / "procedures")) == 0
    (draft,) = (folder / "procedures").glob("*.toml")  # the review: set the national code (mã TTHC)
    draft.write_text(re.sub(r'^code = ".*"$', 'code = "1.004227"', draft.read_text(encoding="utf-8"), count=1,
                            flags=re.M), encoding="utf-8")
    with open(folder / "conf.toml", "a", encoding="utf-8") as conf:
        conf.write('[procedures]\ndir = "procedures"\n')
    status = run(folder, "sync")
    assert status == 0, capsys.readouterr().err
    lines = (folder / "evidence.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines and all(json.loads(line)["calendar"]["version"] for line in lines)
    assert run(folder, "sync") in (0, 3)  # the overlap window is read again: no new revisions
    assert len((folder / "evidence.jsonl").read_text(encoding="utf-8").splitlines()) == len(lines)


def test_mapping_check_lists_codes(deployment, capsys) -> None:
    folder, _ = deployment
    status = run(folder, "mapping", "check", "--source", "onegate", "--sample", "50")
    err = capsys.readouterr().err
    assert status in (0, 1) and "unmapped code(s) in a sample" in err


def test_procedures_import_writes_valid_drafts(deployment, tmp_path, capsys) -> None:
    folder, _ = deployment
    out = tmp_path / "drafts"
    assert run(folder, "procedures", "import", "--source", "onegate", "--out", str(out)) == 0
    drafts = sorted(out.glob("*.toml"))
    assert drafts
    for path in drafts:
        Procedure.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))


def test_a_source_that_stays_down_fails_the_run_cleanly(deployment, capsys) -> None:
    folder, fake = deployment
    fake.fail("/dossiers", times=100, status=503)
    assert run(folder, "sync") == 1
    err = capsys.readouterr().err
    assert "isobridge sync: failed: HttpUnavailable" in err and fake.password not in err
    assert run(folder, "state", "show") == 0
    out = capsys.readouterr().out
    assert "onegate" not in out  # no checkpoint was committed
    assert run(folder, "runs") == 0
    assert "\tfailed\t" in capsys.readouterr().out
