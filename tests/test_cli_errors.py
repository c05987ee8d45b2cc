"""Every built-in command meets faults with one line on stderr, no traceback, no secret, the right exit code.

Faults: bad settings (misspelt sections and variables holding secrets, invalid TOML, a secret for a
source the file does not configure), a ledger that is not a database, a folder or read-only, a
missing configuration file, and a server that refuses connections (a closed port on 127.0.0.1).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from isobridge.core.cli import main

SECRET = "Hunter2-SECRET-value"
SCRIPT = Path(sys.executable).with_name("isobridge")


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def run(capsys, *argv: str) -> tuple[int, list[str], str]:
    """Exit status, stderr lines and stdout of `isobridge argv` (in process)."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, err.splitlines(), out


def assert_one_line(lines: list[str], status: int, expected: int, *names: str) -> None:
    assert status == expected, lines
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0] and SECRET not in lines[0], lines
    for name in names:
        assert name in lines[0], (name, lines)


# -- settings -------------------------------------------------------------------------------------
def test_misspelt_section_is_one_line_naming_file_and_key_without_the_value(tmp_path, capsys):
    config = write(tmp_path / "conf.toml", f'[privcy]\npseudonym_key = "{SECRET}"\n[sync]\nbatch_size = "many"\n')
    status, lines, _ = run(capsys, "runs", "--config", str(config))
    assert_one_line(lines, status, 1, "conf.toml", "privcy", "sync.batch_size", "unknown key")
    assert "many" not in lines[0]


def test_misspelt_variable_names_the_variable_not_its_value(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ISOBRIDGE_PRIVACY__PSEUDONYM_KY", SECRET)
    status, lines, _ = run(capsys, "runs")
    assert_one_line(lines, status, 1, "ISOBRIDGE_PRIVACY__PSEUDONYM_KY", "privacy.pseudonym_ky", "pseudonym_key")


@pytest.mark.parametrize("variable, meant", [
    ("ISOBRIDGE_PRIVACY_PSEUDONYM_KEY", "ISOBRIDGE_PRIVACY__PSEUDONYM_KEY"),
    ("ISOBRIDGE_PSEUDONYM_KEY", "ISOBRIDGE_PRIVACY__PSEUDONYM_KEY"),
    ("ISOBRIDGE_LEDGER_PATH", "ISOBRIDGE_LEDGER__PATH"),
    ("ISOBRIDGE_SOURCES_ONEGATE_PASSWORD", "ISOBRIDGE_SOURCES__<NAME>__<KEY>"),
])
def test_a_variable_meant_for_a_setting_is_not_silently_ignored(tmp_path, capsys, monkeypatch, variable, meant):
    """One underscore where two belong: without this the pseudonym key silently becomes the ledger's own."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(variable, SECRET)
    monkeypatch.setenv("ISOBRIDGE_DISABLE_PLUGINS", "")  # variables that are not settings stay allowed
    status, lines, _ = run(capsys, "runs")
    assert_one_line(lines, status, 1, f"environment variable {variable}", meant)


def test_a_secret_file_meant_for_a_setting_is_not_silently_ignored(tmp_path, capsys, monkeypatch):
    secrets = tmp_path / "secrets"
    (secrets / "..2026_12_04").mkdir(parents=True)  # a Kubernetes secret volume's hidden folder
    write(secrets / "..2026_12_04" / "privacy__pseudonym_key", SECRET)
    write(secrets / "privacy_pseudonym_key", SECRET)
    monkeypatch.setenv("ISOBRIDGE_SECRETS_DIR", str(secrets))
    monkeypatch.chdir(tmp_path)
    status, lines, _ = run(capsys, "runs")
    assert_one_line(lines, status, 1, "secret file", "privacy_pseudonym_key", "privacy__pseudonym_key?")


def test_misspelt_secret_file_names_the_file(tmp_path, capsys, monkeypatch):
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    write(secrets / "privacy__pseudonym_kee", SECRET)
    config = write(tmp_path / "conf.toml", '[ledger]\npath = "l.db"\n')
    monkeypatch.setenv("ISOBRIDGE_SECRETS_DIR", "secrets")  # relative to the configuration file
    monkeypatch.chdir("/")
    status, lines, _ = run(capsys, "runs", "--config", str(config))
    assert_one_line(lines, status, 1, "privacy__pseudonym_kee", "privacy.pseudonym_kee")


def test_secret_for_a_source_not_in_the_file_names_variable_and_source(tmp_path, capsys, monkeypatch):
    config = write(tmp_path / "conf.toml", '[ledger]\npath = "l.db"\n[sources.onegate]\nadapter = "caselog"\nfolder = "."\n')
    monkeypatch.setenv("ISOBRIDGE_SOURCES__ONEGTE__PASSWORD", SECRET)
    status, lines, _ = run(capsys, "sync", "--config", str(config))
    assert_one_line(lines, status, 1, "ISOBRIDGE_SOURCES__ONEGTE__PASSWORD", "sources.onegte", "conf.toml")
    assert "None" not in lines[0]


def test_a_table_variable_that_is_not_json_names_the_variable(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ISOBRIDGE_SOURCES", f'{{"igate": {{"password": "{SECRET}"')
    status, lines, _ = run(capsys, "runs")
    assert_one_line(lines, status, 1, "environment variable ISOBRIDGE_SOURCES", "JSON")


def test_a_bad_adapter_option_names_its_file_or_variable_not_its_value(tmp_path, capsys, monkeypatch):
    (tmp_path / "in").mkdir()
    config = write(tmp_path / "conf.toml", f'[ledger]\npath = "l.db"\n[sources.onestop]\nadapter = "caselog"\n'
                                          f'folder = "in"\npasswrod = "{SECRET}"\n')
    status, lines, _ = run(capsys, "sync", "--config", str(config))
    assert_one_line(lines, status, 1, "conf.toml: sources.onestop.passwrod: unknown key", "folder")
    write(config, '[ledger]\npath = "l.db"\n[sources.onestop]\nadapter = "caselog"\nfolder = "in"\n')
    monkeypatch.setenv("ISOBRIDGE_SOURCES__ONESTOP__TOKN", SECRET)
    status, lines, _ = run(capsys, "sync", "--config", str(config))
    assert_one_line(lines, status, 1, "environment variable ISOBRIDGE_SOURCES__ONESTOP__TOKN: sources.onestop.tokn")


def test_secret_file_for_a_sink_not_in_the_file_names_file_and_sink(tmp_path, capsys, monkeypatch):
    secrets = tmp_path / "secrets"
    (secrets / "sinks" / "qsm" / "auth").mkdir(parents=True)
    write(secrets / "sinks" / "qsm" / "auth" / "token", SECRET)
    config = write(tmp_path / "conf.toml", '[ledger]\npath = "l.db"\n')
    monkeypatch.setenv("ISOBRIDGE_SECRETS_DIR", str(secrets))
    status, lines, _ = run(capsys, "check", "--config", str(config))
    assert_one_line(lines, status, 1, "secret file", "sinks.qsm", "conf.toml has no [sinks.qsm]")


def test_a_table_without_adapter_says_so(tmp_path, capsys):
    config = write(tmp_path / "conf.toml", '[ledger]\npath = "l.db"\n[sinks.out]\npath = "e.jsonl"\n')
    status, lines, _ = run(capsys, "check", "--config", str(config))
    assert_one_line(lines, status, 1, "conf.toml", "sinks.out.adapter")


def test_invalid_toml_names_the_file(tmp_path, capsys):
    config = write(tmp_path / "conf.toml", f'[privacy\npseudonym_key = "{SECRET}"\n')
    status, lines, _ = run(capsys, "state", "show", "--config", str(config))
    assert_one_line(lines, status, 1, "conf.toml", "invalid TOML")


# -- every command against faults ---------------------------------------------------------------
COMMANDS = [
    ["sync"], ["check"], ["state", "show"], ["state", "reset", "x"], ["runs"], ["quarantine", "list"],
    ["quarantine", "replay", "all"], ["mapping", "check", "--source", "x"], ["procedures", "import", "--source", "x"],
    ["report", "--out", "report.html"], ["sheet", "HS-1"],
]


def fault_config(tmp_path: Path, fault: str) -> Path:
    """A configuration file whose deployment has `fault`."""
    if fault == "missing configuration":
        return tmp_path / "absent.toml"
    if fault == "ledger is not a database":
        write(tmp_path / "ledger.db", "this is not an SQLite database, only text " * 20)
    if fault == "ledger is a folder":
        (tmp_path / "ledger.db").mkdir()
    if fault == "ledger folder is a file":
        write(tmp_path / "var", "a file where a folder should be")
        return write(tmp_path / "conf.toml", '[ledger]\npath = "var/ledger.db"\n')
    if fault == "bad settings":
        return write(tmp_path / "conf.toml", f'[ledger]\npath = "ledger.db"\npasword = "{SECRET}"\n')
    return write(tmp_path / "conf.toml", '[ledger]\npath = "ledger.db"\n')


@pytest.mark.parametrize("fault", ["missing configuration", "ledger is not a database", "ledger is a folder",
                                   "ledger folder is a file", "bad settings"])
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_meets_a_fault_with_one_line(tmp_path, capsys, monkeypatch, command, fault):
    monkeypatch.chdir(tmp_path)
    config = fault_config(tmp_path, fault)
    status, lines, _ = run(capsys, *command, "--config", str(config))
    assert_one_line(lines, status, 1)
    where = {"missing configuration": "absent.toml", "bad settings": "ledger.pasword"}.get(fault, "ledger")
    assert where in lines[0], lines


def test_a_file_where_a_sink_folder_should_be(tmp_path, capsys):
    (tmp_path / "out").write_text("a file")
    config = write(tmp_path / "conf.toml", '[ledger]\npath = "ledger.db"\n[sinks.sheet]\nadapter = "csv"\ndirectory = "out"\n')
    status, lines, _ = run(capsys, "sync", "--config", str(config))
    assert_one_line(lines, status, 1, str(tmp_path / "out"), "not a folder")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes read-only files")
@pytest.mark.parametrize("command", [["sync"], ["state", "reset", "x"], ["state", "unlock"]], ids=" ".join)
def test_read_only_ledger_is_one_line(tmp_path, capsys, command):
    config = write(tmp_path / "conf.toml", '[ledger]\npath = "ro/ledger.db"\n')
    assert main(["runs", "--config", str(config)]) == 0
    capsys.readouterr()
    (tmp_path / "ro" / "ledger.db").chmod(0o444)
    (tmp_path / "ro").chmod(0o555)
    try:
        status, lines, _ = run(capsys, *command, "--config", str(config))
    finally:
        (tmp_path / "ro").chmod(0o755)
    assert_one_line(lines, status, 1, "ledger.db")


def server_down_config(tmp_path: Path) -> Path:
    port = closed_port()
    http = "http = { max_attempts = 1, rate_limit = 0, connect_timeout = 2 }"
    return write(tmp_path / "conf.toml", f"""
[ledger]
path = "ledger.db"
[sources.igate]
adapter = "rest"
profile = "igate"
base_url = "http://127.0.0.1:{port}/?token={SECRET}"
username = "isobridge"
password = "{SECRET}"
{http}
[sources.onegate]
adapter = "opencps"
base_url = "http://127.0.0.1:{port}/o/rest/v2"
username = "isobridge@example.gov.vn"
password = "{SECRET}"
group_id = 1
since = "2026-01-01"
{http}
[sinks.qms]
adapter = "rest"
url = "http://127.0.0.1:{port}/api/evidence"
auth = {{ type = "bearer", token = "{SECRET}" }}
{http}
""")


@pytest.mark.parametrize("command", [
    ["sync"], ["sync", "--source", "onegate"], ["mapping", "check", "--source", "igate"],
    ["mapping", "check", "--source", "onegate"], ["procedures", "import", "--source", "onegate", "--out", "drafts"],
], ids=" ".join)
def test_unreachable_server_is_one_line_without_secrets(tmp_path, capsys, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    config = server_down_config(tmp_path)
    status, lines, out = run(capsys, *command, "--config", str(config))
    assert_one_line(lines, status, 1, "127.0.0.1")
    assert SECRET not in out


def test_check_with_a_server_down_prints_one_line_per_adapter(tmp_path, capsys):
    config = server_down_config(tmp_path)
    status, err, out = run(capsys, "check", "--config", str(config))
    lines = out.splitlines()
    assert status == 1 and not err
    assert [line.split(":")[0] for line in lines] == ["source igate", "source onegate", "sink qms"]
    assert all("FAILED" in line and SECRET not in line for line in lines), lines


def test_the_console_script_never_prints_a_traceback(tmp_path):
    """The real entry point, in its own process: stderr is exactly one line."""
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "isobridge.core.cli"]
    write(tmp_path / "ledger.db", "not a database " * 50)
    config = write(tmp_path / "conf.toml", '[ledger]\npath = "ledger.db"\n')
    for argv, expected in ((["runs", "--config", str(config)], 1), (["runs", "--bogus"], 2)):
        done = subprocess.run(command + argv, capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert done.returncode == expected, done.stderr
        assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("isobridge: error:")


def test_an_unknown_log_level_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["runs", "--config", str(tmp_path / "conf.toml"), "--log-level", "VERBOSE"])
    assert stop.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path):
    """`isobridge generate | head -c 10`: no traceback, no 'Exception ignored' on stderr."""
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "isobridge.core.cli"]
    process = subprocess.Popen(command + ["generate", "--dossiers", "3000"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, cwd=tmp_path)
    process.stdout.read(10)
    process.stdout.close()
    assert process.wait(timeout=120) == 1
    assert process.stderr.read().decode() == ""


def test_a_push_sink_down_during_sync_is_one_line(tmp_path, capsys, monkeypatch):
    from isobridge.core import samples

    monkeypatch.chdir(tmp_path)
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "cases.jsonl").write_bytes(samples.CASES.read_bytes())
    config = write(tmp_path / "conf.toml", f"""
[ledger]
path = "ledger.db"
[sync]
workers = 1
[sources.onestop]
adapter = "caselog"
folder = "inbox"
[sinks.qms]
adapter = "rest"
url = "http://127.0.0.1:{closed_port()}/api/evidence?api_key={SECRET}"
auth = {{ type = "bearer", token = "{SECRET}" }}
http = {{ max_attempts = 1, rate_limit = 0, connect_timeout = 2 }}
""")
    status, lines, _ = run(capsys, "sync", "--config", str(config), "--log-level", "error")
    assert_one_line(lines, status, 1, "127.0.0.1", "sink unavailable")
    status, lines, out = run(capsys, "runs", "--config", str(config))
    assert status == 0 and SECRET not in out and "failed" in out


FILE_COMMANDS = {
    "demo into a file": ["demo", "--out", "afile/demo"],
    "evaluate a missing case log": ["evaluate", "absent.jsonl", "--workers", "1"],
    "evaluate with a missing procedure folder": ["evaluate", "empty.jsonl", "--procedures", "absent"],
    "evaluate with a missing calendar": ["evaluate", "empty.jsonl", "--calendar", "absent.toml"],
    "generate into a file": ["generate", "--dossiers", "3", "--out", "afile/cases.jsonl"],
    "new-adapter into a file": ["new-adapter", "vendorx", "--out", "afile"],
    "report from a missing file": ["report", "--evidence", "absent.jsonl"],
    "report into a file": ["report", "--evidence", "empty.jsonl", "--out", "afile/report.html"],
    "report with missing objectives": ["report", "--evidence", "empty.jsonl", "--objectives", "absent.toml"],
    "sheet from a missing file": ["sheet", "HS-1", "--evidence", "absent.jsonl"],
}


@pytest.mark.parametrize("case", FILE_COMMANDS)
def test_file_commands_meet_missing_and_blocked_paths_with_one_line(tmp_path, capsys, monkeypatch, case):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "afile", "a file where a folder should be")
    write(tmp_path / "empty.jsonl", "")
    status, lines, _ = run(capsys, *FILE_COMMANDS[case])
    assert_one_line(lines, status, 1)
    assert "absent" in lines[0] or "afile" in lines[0], lines


def test_secret_files_nested_as_folders_are_read(tmp_path, monkeypatch):
    """`privacy/pseudonym_key` is `privacy__pseudonym_key` (the documented folder form was ignored)."""
    from isobridge.core.settings import load_settings

    secrets = tmp_path / "secrets"
    (secrets / "privacy").mkdir(parents=True)
    (secrets / "sources" / "onestop").mkdir(parents=True)
    write(secrets / "privacy" / "pseudonym_key", "key-from-a-folder\n")
    write(secrets / "sources" / "onestop" / "password", "pw-from-a-folder")
    config = write(tmp_path / "conf.toml", '[ledger]\npath = "l.db"\n[sources.onestop]\nadapter = "caselog"\nfolder = "."\n')
    monkeypatch.setenv("ISOBRIDGE_SECRETS_DIR", str(secrets))
    settings = load_settings(config)
    assert settings.privacy.pseudonym_key.get_secret_value() == "key-from-a-folder"
    assert settings.sources["onestop"]["password"].get_secret_value() == "pw-from-a-folder"


@pytest.mark.parametrize("content, reason", [(b"x" * 70_000, "larger than"), (b"\xff\xfe key", "not UTF-8")])
def test_a_bad_secret_file_is_one_line_naming_it(tmp_path, capsys, monkeypatch, content, reason):
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "privacy__pseudonym_key").write_bytes(content)
    monkeypatch.setenv("ISOBRIDGE_SECRETS_DIR", str(secrets))
    monkeypatch.chdir(tmp_path)
    status, lines, _ = run(capsys, "runs")
    assert_one_line(lines, status, 1, "secret file", "privacy__pseudonym_key", reason)
