"""Citizens' data at the edge of the file sources (issue 12): only the fields the mapping needs are
stored, everything else that could name a person is a pseudonym, in the ledger and the quarantine."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson

from conftest import pull_and_map as run
from isobridge.adapters.caselog import CaselogOptions, CaselogSource
from isobridge.adapters.csv import CsvOptions, CsvSource
from isobridge.core.adapters import AdapterContext
from isobridge.core.cli import main
from isobridge.core.ledger import Ledger
from isobridge.core.minimise import scrub_line
from isobridge.core.privacy import Pseudonymizer
from test_sync_job import AS_OF, write_cases

KEY = "khoa-rieng"
P = Pseudonymizer(KEY).pseudonym
NAME, CCCD, PHONE, STREET = "Nguyễn Thị Lan", "079190001234", "0912345678", "12 Lê Lợi, phường Thạch Thang"
CSV_FIXTURE = Path(__file__).parent / "fixtures" / "docsrc" / "csv" / "mot-cua-2025-07.csv"


def caselog(folder: Path) -> CaselogSource:
    return CaselogSource(CaselogOptions(adapter="caselog", folder=folder, settle_seconds=0),
                         AdapterContext("onestop", Pseudonymizer(KEY)))


def with_extras(record: dict) -> dict:
    """A record as a one-stop export writes it: fields beyond the case-log list, people in them."""
    events = [dict(event, comment=f"gọi {NAME} {PHONE}") for event in record["events"]]
    return dict(record, applicant={"name": NAME, "id_number": CCCD}, applicant_address=STREET,
                summary=f"Hồ sơ của {NAME}", contact={"phone": PHONE}, events=events)


def test_fields_outside_the_case_log_list_never_reach_the_fragment(tmp_path: Path) -> None:
    record = write_cases(tmp_path / "x.jsonl", 1)[0]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_bytes(orjson.dumps(with_extras(record)) + b"\n")
    fragments, errors, _ = run(caselog(tmp_path / "in"))
    (fragment,) = fragments["a.jsonl:0"]
    text = orjson.dumps(fragment).decode()
    assert errors == {}
    for personal in (NAME, CCCD, PHONE, STREET):
        assert personal not in text
    assert set(fragment) <= {"dossier", "procedure", "agency", "channel", "received_at", "due_at", "status",
                             "events", "applicant"}
    assert fragment["applicant"].startswith("p-")
    assert all("comment" not in event for event in fragment["events"])
    assert fragment["events"][0]["kind"] == record["events"][0]["kind"]


def test_the_ledger_and_quarantine_hold_no_personal_data_in_clear(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "conf.toml").write_text(
        f'[ledger]\npath = "ledger.db"\n[privacy]\npseudonym_key = "{KEY}"\n'
        '[sources.onestop]\nadapter = "caselog"\nfolder = "in"\nsettle_seconds = 0\n'
        '[sinks.evidence]\nadapter = "jsonl"\npath = "out/evidence.jsonl"\n', encoding="utf-8")
    records = [with_extras(record) for record in write_cases(tmp_path / "x.jsonl", 3)]
    broken = orjson.dumps(records[2])[:-40]  # cut off: not JSON, a person inside the applicant object
    lines = [orjson.dumps(records[0]), orjson.dumps(dict(records[1], status="khác")), broken]
    (tmp_path / "in" / "a.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    assert main(["sync", "--config", str(tmp_path / "conf.toml"), "--as-of", AS_OF]) == 3
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("ledger.db*"))
    for personal in (NAME, CCCD, PHONE, STREET):
        assert personal.encode() not in stored, personal
    ledger = Ledger(tmp_path / "ledger.db")
    ledger.protect(KEY)  # sealed at rest; opened, the broken line still names its dossier
    assert any(records[2]["dossier"] in entry.payload for entry in ledger.quarantined())


def test_a_line_that_is_not_json_keeps_only_safe_values_in_clear() -> None:
    line = ('{"dossier": "H-9", "status": 4, "applicant": {"name": "' + NAME + '", "id_number": ' + CCCD
            + '}, "events": [{"at": "2025-07-01T08:00:00+07:00", "kind": "received", "actor": "Lê Văn Tám", "unit": "Một cửa"}'
            + ', {"kind": "handover", "note": "' + PHONE)
    kept = scrub_line(line, P)
    assert kept.startswith('{"dossier": "H-9", "status": 4, "applicant": {"name": "p-')
    assert '"at": "2025-07-01T08:00:00+07:00", "kind": "received"' in kept and '"unit": "Một cửa"' in kept
    for personal in (NAME, CCCD, PHONE, "Lê Văn Tám"):
        assert personal not in kept
    assert f'"note": "{P(PHONE)}"' in kept and f'"id_number": "{P(CCCD)}"' in kept
    plain = scrub_line(f"{NAME}, {PHONE}", P)
    assert NAME.split()[0] not in plain and PHONE not in plain


def csv_source(folder: Path) -> CsvSource:
    return CsvSource(CsvOptions(adapter="csv", folder=folder, settle_seconds=0),
                     AdapterContext("xuat-excel", Pseudonymizer(KEY)))


def test_csv_unmapped_columns_and_malformed_rows_are_scrubbed_in_the_quarantine(tmp_path: Path) -> None:
    rows = CSV_FIXTURE.read_text("utf-8-sig").splitlines()[:3]
    header, good, other = rows[0], rows[1], rows[2]
    text = "\n".join([
        header + ",Địa chỉ,Điện thoại",
        good + f',"{STREET}",{PHONE}',
        other.replace("Tiếp nhận", "Chuyển nhầm") + f',"{STREET}",{PHONE}',  # a value the mapping refuses
        f"{other},{NAME},{PHONE},{CCCD},thêm",  # more fields than the header: nothing lines up
    ]) + "\n"
    (tmp_path / "x.csv").write_text(text, "utf-8")
    source = csv_source(tmp_path)
    fragments, errors, _ = run(source)
    assert len(fragments) == 1 and len(errors) == 2
    kept = {}
    for page in source.pages(None):
        for record in page.records:
            if record.key in errors:
                kept[record.key] = source.quarantine_payload(record)
    for payload in kept.values():
        for personal in (NAME, CCCD, PHONE, STREET, "Trần Thị Bích", "048085001234"):
            assert personal not in payload, (personal, payload)
    refused, misaligned = (kept[key] for key in sorted(kept, key=lambda key: int(key.rpartition(":")[2])))
    assert "Chuyển nhầm" in refused and "UBND xã Hòa Phú" in refused  # mapped columns stay readable
    assert P(STREET) in refused and P(PHONE) in refused
    assert P("thêm") in misaligned
