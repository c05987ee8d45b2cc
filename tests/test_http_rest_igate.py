"""The bundled iGate profile against dossiers shaped as public iGate clients read them (tests/fakes/igate.py
cites the public code): local procedure codes, steps from `currentTask[]`, no person in clear."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from fakes.igate import VN, FakeIGate, make_igate_dossiers
from isobridge.adapters.rest import RestSource, RestSourceOptions, load_profile
from isobridge.core.adapters import AdapterContext
from isobridge.core.cli import main
from isobridge.core.ledger import Ledger
from isobridge.core.privacy import Pseudonymizer

TOKEN = "igate-T0KEN-abc"
NAMES = ["Lê Thị", "Nguyễn Văn Thẩm Định", "Trần Văn Tiếp Nhận", "12 Lê Lợi", "0380950", "0987654321",
         "cho bà"]


def igate(base: str) -> RestSource:
    options = {"adapter": "rest", "profile": "igate", "base_url": base, "token": TOKEN,
               "http": {"max_attempts": 2, "backoff_seconds": 0.001, "rate_limit": 0}}
    return RestSource(RestSourceOptions.model_validate(options), AdapterContext("igate", Pseudonymizer("k")))


def pull(src: RestSource) -> list:
    return [record for page in src.pages(None) for record in page.records]


@pytest.fixture
def deployment(tmp_path: Path, httpserver, monkeypatch) -> tuple[Path, FakeIGate]:
    fake = FakeIGate(make_igate_dossiers(8))
    base = fake.install(httpserver)
    (tmp_path / "conf.toml").write_text(
        f'[ledger]\npath = "ledger.db"\n'
        f'[sources.igate]\nadapter = "rest"\nprofile = "igate"\nbase_url = "{base}"\n'
        f'http = {{ max_attempts = 2, backoff_seconds = 0.001 }}\n'
        f'[sinks.evidence]\nadapter = "jsonl"\npath = "{tmp_path / "evidence.jsonl"}"\n', encoding="utf-8")
    monkeypatch.setenv("ISOBRIDGE_SOURCES__IGATE__TOKEN", TOKEN)
    return tmp_path, fake


def evidence(folder: Path) -> dict[str, dict]:
    lines = (folder / "evidence.jsonl").read_text(encoding="utf-8").splitlines()
    return {json.loads(line)["dossier"]: json.loads(line) for line in lines}


def test_local_procedure_codes_resolve_to_the_national_code(deployment, capsys) -> None:
    folder, fake = deployment
    status = main(["sync", "--config", str(folder / "conf.toml")])
    err = capsys.readouterr().err
    assert status == 0, err  # the local form used to be quarantined as an unknown procedure
    got = evidence(folder)
    assert set(got) == {d["code"] for d in fake.dossiers}
    local = [d["code"] for d in fake.dossiers if d["procedure"]["code"].endswith(".H48")]
    assert local and all(got[code]["procedure"] == "1.001612" for code in local)


def test_the_local_form_is_kept_as_provenance(httpserver) -> None:
    fake = FakeIGate(make_igate_dossiers(2))
    src = igate(fake.install(httpserver))
    local, national = (src.map(record)[0] for record in sorted(pull(src), key=lambda r: r.key, reverse=True))
    assert local["procedure"] == "1.001612" and local["source_procedure"] == "1.001612.000.00.00.H48"
    assert national["procedure"] == "1.001612" and "source_procedure" not in national


def test_a_code_with_no_national_form_is_a_record_error(httpserver) -> None:
    from isobridge.core.caselog import RecordError

    fake = FakeIGate(make_igate_dossiers(1))
    fake.dossiers[0]["procedure"]["code"] = "TTHC-LOCAL-7"
    src = igate(fake.install(httpserver))
    with pytest.raises(RecordError, match="'TTHC-LOCAL-7' has no national procedure code"):
        src.map(pull(src)[0])


def test_steps_come_from_current_task(httpserver) -> None:
    fake = FakeIGate(make_igate_dossiers(2))
    src = igate(fake.install(httpserver))
    record = next(r for r in pull(src) if r.key == "66a00001")
    events = src.map(record)[0]["events"]
    assert [(e["kind"], e.get("step")) for e in events] == [("received", None), ("handover", "tham_dinh")]
    assert events[0]["at"] == "2025-07-01T13:00:00+07:00" and events[1]["unit"] == "PKT"


def test_no_person_in_clear_in_records_fragments_or_the_quarantine(deployment, capsys) -> None:
    folder, fake = deployment
    bad = make_igate_dossiers(1, datetime(2025, 7, 9, 9, tzinfo=VN))[0]
    bad.update(id="66aBAD", code="H40.22-250709-9998", acceptedDate="not a date")
    bad["currentTask"] = [{**make_igate_dossiers(2)[1]["currentTask"][0], "assignedDate": "also not a date"}]
    fake.dossiers.append(bad)
    assert main(["sync", "--config", str(folder / "conf.toml")]) == 3, capsys.readouterr().err
    db = sqlite3.connect(folder / "ledger.db")
    ledger = Ledger(folder / "ledger.db")
    ledger.protect()  # the quarantine is sealed; opened with the ledger's own key (none configured)
    (entry,) = ledger.quarantined()
    payload = entry.payload
    assert "66aBAD" in payload or "H40.22-250709-9998" in payload
    dump = "\n".join(db.iterdump()) + (folder / "evidence.jsonl").read_text(encoding="utf-8")
    for name in NAMES:
        assert name not in dump, name
    # the actor arrives as a pseudonym, not dropped:
    assert "p-" in json.loads(payload)["currentTask"][0]["assignee"]["fullname"]


def test_the_profile_marks_what_no_public_client_was_seen_reading() -> None:
    profile = load_profile("igate")
    for key in ("fields.received_at", "fields.status", "events.step", "events.at", "events.actor",
                "incremental.param"):
        assert key in profile.unconfirmed
    assert profile.events and profile.events.path == "currentTask"


def test_a_finished_dossier_ends_at_its_completed_date(deployment, capsys) -> None:
    """currentTask[] is empty once a dossier is done: without the milestones it stayed open, overdue."""
    folder, fake = deployment
    assert main(["sync", "--config", str(folder / "conf.toml")]) == 0, capsys.readouterr().err
    got = evidence(folder)
    finished = [d for d in fake.dossiers if not d["currentTask"]]
    assert finished
    for dossier in finished:
        result = got[dossier["code"]]
        assert result["finished_at"] == datetime.fromisoformat(dossier["completedDate"]).isoformat()
        assert result["verdict"] not in ("open_overdue", "open")
