"""Byte order marks and bytes that are not UTF-8 in case-log and CSV files (issue 12)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import orjson

from conftest import pull_and_map as run
from isobridge.adapters.caselog import CaselogOptions, CaselogSource
from isobridge.adapters.csv import CsvOptions, CsvSource
from isobridge.core.adapters import AdapterContext
from isobridge.core.caselog import BOM, decode_case
from isobridge.core.cli import main
from isobridge.core.ledger import Ledger
from isobridge.core.privacy import Pseudonymizer
from test_sync_job import AS_OF, write_cases

CSV_FIXTURE = Path(__file__).parent / "fixtures" / "docsrc" / "csv" / "mot-cua-2025-07.csv"


def caselog(folder: Path) -> CaselogSource:
    return CaselogSource(CaselogOptions(adapter="caselog", folder=folder, settle_seconds=0),
                         AdapterContext("onestop", Pseudonymizer("k")))


def test_a_byte_order_mark_does_not_cost_the_first_dossier(tmp_path: Path) -> None:
    records = write_cases(tmp_path / "cases.jsonl", 3)
    path = tmp_path / "cases.jsonl"
    path.write_bytes(BOM + path.read_bytes())
    fragments, errors, _ = run(caselog(tmp_path))
    assert errors == {}
    assert [f[0]["dossier"] for f in fragments.values()] == [r["dossier"] for r in records]
    first = path.read_bytes().split(b"\n")[0]
    assert decode_case(first).dossier == records[0]["dossier"]  # `isobridge evaluate` reads it too


def test_a_byte_order_mark_before_a_csv_header(tmp_path: Path) -> None:
    text = CSV_FIXTURE.read_bytes().removeprefix(BOM)
    (tmp_path / "with").mkdir()
    (tmp_path / "without").mkdir()
    (tmp_path / "with" / "x.csv").write_bytes(BOM + text)
    (tmp_path / "without" / "x.csv").write_bytes(text)
    context = AdapterContext("xuat-excel", Pseudonymizer("k"))
    with_bom = run(CsvSource(CsvOptions(adapter="csv", folder=tmp_path / "with", settle_seconds=0), context))
    without = run(CsvSource(CsvOptions(adapter="csv", folder=tmp_path / "without", settle_seconds=0), context))
    assert with_bom[0] and list(with_bom[0].values()) == list(without[0].values())


def test_a_line_that_is_not_utf8_is_quarantined_never_replaced(tmp_path: Path) -> None:
    line = orjson.dumps(write_cases(tmp_path / "x.jsonl", 1)[0]).replace(b'"agency":"', b'"agency":"\xff\xfe')
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_bytes(line + b"\n")
    source = caselog(tmp_path / "in")
    fragments, errors, _ = run(source)
    position = line.index(b"\xff")
    assert fragments == {} and errors == {"a.jsonl:0": [f"not valid UTF-8: byte 0xff at position {position}"]}
    record = next(iter(source.pages(None))).records[0]
    kept = source.quarantine_payload(record)
    assert "\ufffd" not in kept and "\\xff\\xfe" in kept  # the original bytes, as escapes


def test_a_replayed_line_with_bad_bytes_never_becomes_evidence(tmp_path: Path, capsys) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "conf.toml").write_text(
        '[ledger]\npath = "ledger.db"\n[sources.onestop]\nadapter = "caselog"\nfolder = "in"\nsettle_seconds = 0\n'
        '[sinks.evidence]\nadapter = "jsonl"\npath = "out/evidence.jsonl"\n', encoding="utf-8")
    good, bad = write_cases(tmp_path / "x.jsonl", 2)
    broken = orjson.dumps(bad).replace(b'"agency":"', b'"agency":"\xc3(')
    (tmp_path / "in" / "a.jsonl").write_bytes(orjson.dumps(good) + b"\n" + broken + b"\n")
    config = ["--config", str(tmp_path / "conf.toml")]
    assert main(["sync", *config, "--as-of", AS_OF]) == 3
    (entry,) = Ledger(tmp_path / "ledger.db").quarantined()
    assert "\ufffd" not in entry.payload and entry.errors[0].startswith("not valid UTF-8")
    assert main(["quarantine", "replay", str(entry.id), *config]) != 0
    assert "still failing" in capsys.readouterr().out
    lines = [json.loads(text) for text in (tmp_path / "out/evidence.jsonl").read_text("utf-8").splitlines()]
    assert [line["dossier"] for line in lines] == [good["dossier"]]
    assert "\ufffd" not in (tmp_path / "out/evidence.jsonl").read_text("utf-8")


def test_an_entry_quarantined_by_an_older_release_with_replacement_characters_stays_quarantined(tmp_path: Path) -> None:
    """Older releases stored the line decoded with U+FFFD: replaying it must not make evidence of it."""
    (tmp_path / "in").mkdir()
    (tmp_path / "conf.toml").write_text(
        '[ledger]\npath = "ledger.db"\n[sources.onestop]\nadapter = "caselog"\nfolder = "in"\nsettle_seconds = 0\n'
        '[sinks.evidence]\nadapter = "jsonl"\npath = "out/evidence.jsonl"\n', encoding="utf-8")
    bad = write_cases(tmp_path / "x.jsonl", 1)[0]
    assert main(["sync", "--config", str(tmp_path / "conf.toml"), "--as-of", AS_OF]) == 0
    payload = orjson.dumps(dict(bad, agency="UBND x\ufffd\ufffd")).decode()
    with sqlite3.connect(tmp_path / "ledger.db") as db:
        db.execute("INSERT INTO quarantine (source, key, stage, payload, errors, at) VALUES (?,?,?,?,?,?)",
                   ("onestop", "a.jsonl:0", "map", payload, '["invalid JSON"]', "2026-01-01T00:00:00"))
    (entry,) = Ledger(tmp_path / "ledger.db").quarantined()
    assert main(["quarantine", "replay", str(entry.id), "--config", str(tmp_path / "conf.toml")]) != 0
    assert not (tmp_path / "out/evidence.jsonl").exists() or \
        "\ufffd" not in (tmp_path / "out/evidence.jsonl").read_text("utf-8")


def utf8_mapping(tmp_path: Path, encoding: str) -> Path:
    text = (Path(__file__).parents[1] / "mappings" / "csv-example.toml").read_text("utf-8")
    path = tmp_path / "m.toml"
    path.write_text(text.replace('encoding = "auto"', f'encoding = "{encoding}"'), "utf-8")
    return path


def test_a_csv_row_with_bytes_its_encoding_does_not_define_is_quarantined(tmp_path: Path) -> None:
    for encoding, bad in (("utf-8", b"\xff"), ("auto", b"\x81")):  # \x81: undefined in Windows-1258 too
        folder = tmp_path / encoding
        folder.mkdir()
        header, good, other = CSV_FIXTURE.read_bytes().removeprefix(BOM).split(b"\n")[:3]
        other = other.replace("UBND xã Hòa Phú".encode(), b"UBND x" + bad)
        (folder / "x.csv").write_bytes(b"\n".join([header, good, other]) + b"\n")
        source = CsvSource(CsvOptions(adapter="csv", folder=folder, settle_seconds=0,
                                      mapping=utf8_mapping(folder, encoding)),
                           AdapterContext("xuat-excel", Pseudonymizer("k")))
        fragments, errors, _ = run(source)
        assert "\ufffd" not in json.dumps(fragments, ensure_ascii=False)
        (key,) = errors
        assert f"not valid text in the mapping's encoding ({encoding})" in errors[key][0]
        record = next(r for page in source.pages(None) for r in page.records if r.key == key)
        kept = source.quarantine_payload(record)
        assert "\\x" + bad.hex() in kept and "\ufffd" not in kept
        kept.encode("utf-8")  # storable: no lone surrogate
        from isobridge.core.adapters import RawRecord
        try:
            source.map(RawRecord(key, kept))  # replayed from the quarantine
        except Exception as exc:
            assert "holds bytes that were not valid text" in str(exc.errors)
        else:
            raise AssertionError("a replayed row with escaped bytes was mapped")
