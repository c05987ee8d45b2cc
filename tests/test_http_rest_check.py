"""`isobridge mapping check` on a rest source: every code reaching no ISO step, the dossiers it affects,
the profile's unconfirmed notes; never an all-clear it cannot back; one line when the server is down."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakes.igate import FakeIGate, make_igate_dossiers
from isobridge.core.cli import main
from isobridge.mappings import __file__ as MAPPINGS_INIT

TOKEN = "igate-T0KEN-abc"
IGATE = (Path(MAPPINGS_INIT).parent / "igate.toml").read_text(encoding="utf-8")


def deploy(folder: Path, base: str, profile: str = "igate") -> Path:
    conf = folder / "conf.toml"
    conf.write_text(
        f'[ledger]\npath = "ledger.db"\n'
        f'[sources.igate]\nadapter = "rest"\nprofile = "{profile}"\nbase_url = "{base}"\ntoken = "{TOKEN}"\n'
        f'http = {{ max_attempts = 2, backoff_seconds = 0.001, rate_limit = 0 }}\n'
        f'[sinks.evidence]\nadapter = "jsonl"\npath = "{folder / "evidence.jsonl"}"\n', encoding="utf-8")
    return conf


def check(conf: Path, capsys) -> tuple[int, dict[tuple[str, str], int], list[str], str]:
    status = main(["mapping", "check", "--source", "igate", "--config", str(conf)])
    captured = capsys.readouterr()
    rows = [line.split("\t") for line in captured.out.splitlines()[1:]]
    codes = {(row[0], row[1]): int(row[2]) for row in rows if row[0] != "unconfirmed"}
    notes = [row[1] for row in rows if row[0] == "unconfirmed"]
    return status, codes, notes, captured.err


def test_every_vendor_code_is_listed_with_the_dossiers_it_affects(httpserver, tmp_path, capsys) -> None:
    fake = FakeIGate(make_igate_dossiers(12))
    fake.dossiers[3]["dossierStatus"]["id"] = 42
    status, codes, notes, err = check(deploy(tmp_path, fake.install(httpserver)), capsys)
    assert status == 1 and "Traceback" not in err
    open_dossiers = sum(1 for d in fake.dossiers if d["currentTask"])
    assert codes[("status", "42")] == 1
    assert codes[("step", "1.001612:tham_dinh")] == open_dossiers  # no [steps] mapping: reaches no ISO step
    assert codes[("events", "currentTask: no step rows")] == 12 - open_dossiers
    assert codes[("record", "quarantined: dossierStatus.id")] == 1  # the status-42 dossier does not map
    assert codes[("unreached", "1.001612:TKQ")] == 11  # the return step: no mapped dossier reached it
    assert any(note.startswith("events.step: currentTask[].activitiDefinitionKey") for note in notes)
    assert any("not confirmed against a live system" in note for note in notes)


def test_a_step_mapped_to_no_step_of_the_iso_procedure_is_not_an_all_clear(httpserver, tmp_path, capsys) -> None:
    """Every vendor code is in [steps], yet one maps to a code the ISO procedure does not have."""
    fake = FakeIGate([d for d in make_igate_dossiers(6) if d["currentTask"]])
    profile = tmp_path / "igate-local.toml"
    profile.write_text(IGATE + '"tham_dinh" = "THAM_DINH"\n', encoding="utf-8")
    status, codes, _, _ = check(deploy(tmp_path, fake.install(httpserver), str(profile)), capsys)
    assert status == 1
    assert codes[("step", "1.001612:THAM_DINH")] == len(fake.dossiers)


def test_a_complete_mapping_still_lists_iso_steps_no_dossier_reached(httpserver, tmp_path, capsys) -> None:
    fake = FakeIGate([d for d in make_igate_dossiers(6) if d["currentTask"]])
    profile = tmp_path / "igate-local.toml"
    profile.write_text(IGATE + '"tham_dinh" = "TD"\n', encoding="utf-8")
    status, codes, _, err = check(deploy(tmp_path, fake.install(httpserver), str(profile)), capsys)
    assert set(codes) == {("unreached", "1.001612:PD"), ("unreached", "1.001612:TKQ")}
    assert status == 1 and "2 unmapped code(s) in a sample of 4 record(s)" in err


def test_an_empty_sample_is_not_an_all_clear(httpserver, tmp_path, capsys) -> None:
    fake = FakeIGate([])
    status, codes, _, err = check(deploy(tmp_path, fake.install(httpserver)), capsys)
    assert status == 1 and not codes
    assert "gave no records: nothing was checked (not an all-clear)" in err


def test_an_unreachable_server_gives_one_clear_line(tmp_path, capsys) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    status, _, _, err = check(deploy(tmp_path, f"http://127.0.0.1:{port}/"), capsys)
    assert status == 1 and "Traceback" not in err and TOKEN not in err
    lines = [line for line in err.splitlines() if line.startswith("isobridge")]
    assert len(lines) == 1 and "source 'igate' cannot be read, nothing was checked" in lines[0]


@pytest.mark.parametrize("marker", ["category\tcode\tdossiers"])
def test_the_output_has_a_header(httpserver, tmp_path, capsys, marker) -> None:
    fake = FakeIGate(make_igate_dossiers(2))
    main(["mapping", "check", "--source", "igate", "--config", str(deploy(tmp_path, fake.install(httpserver)))])
    assert capsys.readouterr().out.splitlines()[0] == marker


def test_a_record_the_source_cannot_read_is_counted_not_fatal() -> None:
    """A source's `unmapped` may refuse a record (a detail answering 404): the check goes on."""
    from isobridge.adapters.rest.check import check_mapping
    from isobridge.core.adapters import AdapterContext, CheckResult, Page, RawRecord, Source
    from isobridge.core.caselog import RecordError
    from isobridge.core.privacy import Pseudonymizer

    class TwoRecords(Source):
        name = "two-records"

        def check(self) -> CheckResult:
            return CheckResult(True, "ok")

        def pages(self, cursor):
            yield Page([RawRecord("gone", "{}"), RawRecord("ok", "{}")], None)

        def map(self, record):
            if record.key == "gone":
                raise RecordError(["record gone: detail: 404 Not Found"])
            return [{"dossier": "D-1", "procedure": "1.001612", "received_at": "2026-03-02T09:30:00+07:00",
                     "status": 4, "events": []}]

        def unmapped(self, record):
            if record.key == "gone":
                raise RecordError(["record gone: detail: 404 Not Found"])
            return {("status", "77")}

    report = check_mapping(TwoRecords(None, AdapterContext("two", Pseudonymizer("k"))), 10)
    assert report.sampled == 2 and not report.clear
    assert report.codes == {("record", "quarantined: detail"): 1, ("status", "77"): 1}
