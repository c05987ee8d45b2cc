"""Relative paths in a configuration file are relative to its folder, wherever the command runs
(cron and systemd start in / or $HOME); two sinks that would write one file are refused at start-up."""

from __future__ import annotations

import shutil
from pathlib import Path

import certifi
import pytest

from isobridge.core import samples
from isobridge.core.cli import main
from isobridge.core.errors import ConfigurationError
from isobridge.core.ledger import Ledger
from isobridge.core.plugins import load_plugins
from isobridge.core.settings import load_settings
from isobridge.core.sync import SyncJob

MAPPINGS = Path(__file__).resolve().parents[1] / "mappings"

DEPLOYMENT = """
[ledger]
path = "state/ledger.db"

[sources.igate]
adapter = "rest"
profile = "profiles/igate-province.toml"
base_url = "https://igate.example.gov.vn/"
http = { ca_bundle = "certs/provincial-ca.pem" }

[sources.onegate]
adapter = "opencps"
base_url = "https://motcua.example.gov.vn/o/rest/v2"
username = "isobridge@example.gov.vn"
password = "example-password"
group_id = 1
since = "2026-01-01"
mapping = "mappings/opencps.toml"
http = { ca_bundle = "~/provincial-ca.pem" }

[sinks.evidence]
adapter = "jsonl"
path = "out/evidence.jsonl"

[sinks.mining]
adapter = "xes"
path = "out/evidence.xes"
procedures = "procedures"

[sinks.sheet]
adapter = "csv"
directory = "out/csv"
"""


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch) -> Path:
    """A deployment folder whose configuration names every file relatively; the command runs elsewhere."""
    folder = tmp_path / "etc"
    for sub in ("profiles", "certs", "mappings"):
        (folder / sub).mkdir(parents=True)
    shutil.copytree(samples.PROCEDURES, folder / "procedures")
    shutil.copy(MAPPINGS / "igate.toml", folder / "profiles" / "igate-province.toml")
    shutil.copy(MAPPINGS / "opencps.toml", folder / "mappings" / "opencps.toml")
    shutil.copy(certifi.where(), folder / "certs" / "provincial-ca.pem")
    (folder / "conf.toml").write_text(DEPLOYMENT, encoding="utf-8")
    elsewhere = tmp_path / "cron-cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return folder


def job(folder: Path) -> SyncJob:
    settings = load_settings(folder / "conf.toml")
    return SyncJob(settings, load_plugins(), Ledger(settings.ledger.path), base_dir=folder)


def test_every_path_option_resolves_against_the_configuration_folder(deployment: Path) -> None:
    sync = job(deployment)
    assert sync.settings.ledger.path == deployment / "state" / "ledger.db"
    igate = sync.open_source("igate")
    assert igate.profile.profile.name  # read from etc/profiles, not from the working folder
    assert igate.options.http.ca_bundle == deployment / "certs" / "provincial-ca.pem"
    assert igate.options.http.ca_bundle.is_file()
    onegate = sync.open_source("onegate")
    assert onegate.options.mapping == deployment / "mappings" / "opencps.toml"
    assert onegate.options.http.ca_bundle == Path.home() / "provincial-ca.pem"
    for name in ("evidence", "mining", "sheet"):
        sync.open_sink(name).close()
    assert sorted(p.name for p in (deployment / "out").iterdir()) == sorted(
        ["csv", "evidence.jsonl", "evidence.jsonl.owner", "evidence.xes", "evidence.xes.keys.sqlite"])
    assert not any(Path.cwd().iterdir())


def test_a_bundled_profile_name_stays_a_name(deployment: Path) -> None:
    text = (deployment / "conf.toml").read_text().replace("profiles/igate-province.toml", "igate")
    (deployment / "conf.toml").write_text(text)
    assert job(deployment).open_source("igate").profile.profile.name


SHARED = {
    "two jsonl sinks": ('adapter = "jsonl"\npath = "out/evidence.jsonl"', 'adapter = "jsonl"\npath = "out/x/../evidence.jsonl"'),
    "jsonl and csv": ('adapter = "jsonl"\npath = "out/evidence.csv"', 'adapter = "csv"\ndirectory = "out"'),
    "xes and jsonl": ('adapter = "xes"\npath = "out/evidence.jsonl"', 'adapter = "jsonl"\npath = "out/evidence.jsonl"'),
    "two csv sinks": ('adapter = "csv"\ndirectory = "out"', 'adapter = "csv"\ndirectory = "out"\nsteps_file = "s.csv"'),
}


@pytest.mark.parametrize("case", SHARED)
def test_two_sinks_writing_one_file_are_refused_at_start_up(tmp_path: Path, capsys, case: str) -> None:
    first, second = SHARED[case]
    config = tmp_path / "conf.toml"
    config.write_text(f'[ledger]\npath = "ledger.db"\n[sinks.first]\n{first}\n[sinks.second]\n{second}\n')
    (tmp_path / "out").mkdir()
    kept = {name: b"kept: written by someone else\n" for name in ("evidence.jsonl", "evidence.csv")}
    for name, data in kept.items():
        (tmp_path / "out" / name).write_bytes(data)
    status = main(["sync", "--config", str(config)])
    lines = capsys.readouterr().err.splitlines()
    assert status == 1 and len(lines) == 1, lines
    assert "sinks.first" in lines[0] and "sinks.second" in lines[0], lines
    for name, data in kept.items():
        assert (tmp_path / "out" / name).read_bytes() == data  # nothing opened, nothing truncated
    with pytest.raises(ConfigurationError, match="sinks.second and sinks.first"):
        job_at(config)


def job_at(config: Path) -> SyncJob:
    settings = load_settings(config)
    return SyncJob(settings, load_plugins(), Ledger(settings.ledger.path), base_dir=config.parent)


def test_a_sink_writing_the_ledger_is_refused(tmp_path: Path, capsys) -> None:
    config = tmp_path / "conf.toml"
    config.write_text('[ledger]\npath = "ledger.db"\n[sinks.oops]\nadapter = "jsonl"\npath = "ledger.db"\n')
    assert main(["check", "--config", str(config)]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "sinks.oops and the ledger" in lines[0], lines


def test_distinct_files_are_accepted(tmp_path: Path) -> None:
    config = tmp_path / "conf.toml"
    config.write_text('[ledger]\npath = "ledger.db"\n[sinks.a]\nadapter = "jsonl"\npath = "a.jsonl"\n'
                      '[sinks.b]\nadapter = "csv"\ndirectory = "csv"\n[sinks.c]\nadapter = "xes"\npath = "a.xes"\n')
    job_at(config).close()


@pytest.mark.parametrize("example", sorted((MAPPINGS.parent / "config").glob("*.toml")), ids=lambda p: p.name)
def test_the_example_deployments_give_each_sink_its_own_file(example: Path) -> None:
    from isobridge.core.option_paths import refuse_shared_files

    refuse_shared_files(load_settings(example), load_plugins(), example.parent)


def test_a_new_jsonl_sink_never_empties_someone_elses_file(tmp_path: Path, capsys) -> None:
    """Pointed at an existing file (a case log, an older deployment's evidence), the sink refuses."""
    case_log = tmp_path / "cases.jsonl"
    case_log.write_bytes(samples.CASES.read_bytes())
    config = tmp_path / "conf.toml"
    config.write_text('[ledger]\npath = "ledger.db"\n[sinks.evidence]\nadapter = "jsonl"\npath = "cases.jsonl"\n')
    assert main(["sync", "--config", str(config)]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "cases.jsonl exists but was not written by sink 'evidence'" in lines[0], lines
    assert case_log.read_bytes() == samples.CASES.read_bytes()


def test_a_jsonl_sink_that_died_before_its_first_acknowledgement_writes_once(tmp_path: Path) -> None:
    from isobridge.adapters.jsonl import JsonlSink
    from isobridge.testing import make_context, make_options, sample_evidence

    options = make_options(JsonlSink, {"path": str(tmp_path / "evidence.jsonl"), "fsync": False})
    sink = JsonlSink(options, make_context("evidence", {}))
    sink.write(sample_evidence(3))  # written; the process dies before the host stores the acknowledgement
    sink.close()
    sink = JsonlSink(options, make_context("evidence", {}))
    sink.write(sample_evidence(3))
    sink.close()
    assert len((tmp_path / "evidence.jsonl").read_bytes().splitlines()) == 3


READ_BACK = {
    "jsonl sink in a case-log inbox": ('adapter = "caselog"\nfolder = "inbox"',
                                       'adapter = "jsonl"\npath = "inbox/evidence.jsonl"'),
    "csv sink under a csv source": ('adapter = "csv"\nfolder = "exports"',
                                    'adapter = "csv"\ndirectory = "exports/isobridge"'),
    "xes sink among edxml packets": ('adapter = "edxml"\nfolder = "lgsp"\npattern = "**/*"',
                                     'adapter = "xes"\npath = "lgsp/out/evidence.xes"'),
}


@pytest.mark.parametrize("case", READ_BACK)
def test_a_sink_writing_where_a_source_reads_is_refused(tmp_path: Path, capsys, case: str) -> None:
    source, sink = READ_BACK[case]
    for folder in ("inbox", "exports", "lgsp"):
        (tmp_path / folder).mkdir()
    config = tmp_path / "conf.toml"
    config.write_text(f'[ledger]\npath = "ledger.db"\n[sources.inbox]\n{source}\n[sinks.out]\n{sink}\n')
    assert main(["sync", "--config", str(config)]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "sinks.out writes" in lines[0] and "sources.inbox reads" in lines[0], lines


def test_a_sink_beside_a_source_pattern_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    config = tmp_path / "conf.toml"
    config.write_text('[ledger]\npath = "ledger.db"\n[sources.inbox]\nadapter = "caselog"\nfolder = "inbox"\n'
                      '[sinks.out]\nadapter = "jsonl"\npath = "inbox/done/evidence.jsonl"\n')
    job_at(config).close()  # `*.jsonl` reads only the folder's own files, not done/
