"""The `csv` sink: two UTF-8 (BOM) files, header once, idempotent, tail dropped on reopen."""

from __future__ import annotations

import csv
import io

from isobridge.adapters.csvexport.rows import EVIDENCE_COLUMNS, STEP_COLUMNS
from isobridge.adapters.csvexport.sink import CsvOptions, CsvSink
from isobridge.core.plugins import load_plugins

from evid_support import context, evidence, items


def open_sink(folder, state, **options):
    return CsvSink(CsvOptions(adapter="csv", directory=folder, **options), context(state))


def read(path, delimiter=","):
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and raw.count(b"\xef\xbb\xbf") == 1
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=delimiter))


def test_registered_as_plugin():
    assert load_plugins().sink("csv") is CsvSink


def test_rows_and_header_once(tmp_path):
    records = evidence(50)
    state = {}
    sink = open_sink(tmp_path, state)
    sink.write(items(records[:30]))
    sink.close()
    sink = open_sink(tmp_path, state)
    result = sink.write(items(records[20:50]))
    sink.close()
    assert len(result.accepted) == 30
    rows = read(tmp_path / "evidence.csv")
    assert rows[0] == list(EVIDENCE_COLUMNS) and len(rows) == 51
    assert [r[1] for r in rows[1:]] == [e["dossier"] for e in records]
    first = dict(zip(rows[0], rows[1]))
    assert first["verdict"] == records[0]["verdict"] and first["agency"] == records[0]["agency"]
    steps = read(tmp_path / "steps.csv")
    assert steps[0] == list(STEP_COLUMNS)
    assert len(steps) - 1 == sum(len(e["steps"]) for e in records)
    row = dict(zip(steps[0], steps[1]))
    assert row["unit"] == records[0]["steps"][0]["unit"] and row["started_at"].endswith("+07:00")


def test_vietnamese_locale_delimiter_and_formula_guard(tmp_path):
    record = evidence(1)[0]
    record["agency"] = "=HYPERLINK(\"http://x\")"
    sink = open_sink(tmp_path, {}, delimiter=";")
    sink.write(items([record]))
    sink.close()
    rows = read(tmp_path / "evidence.csv", ";")
    assert dict(zip(rows[0], rows[1]))["agency"] == "'=HYPERLINK(\"http://x\")"


def test_tail_past_committed_offsets_is_dropped(tmp_path):
    records = evidence(20)
    state = {}
    sink = open_sink(tmp_path, state)
    sink.write(items(records[:10]))
    committed = dict(state)
    sink.write(items(records[10:15]))  # never acknowledged
    sink.close()
    sink = open_sink(tmp_path, dict(committed))
    sink.write(items(records[10:20]))
    sink.close()
    assert [r[1] for r in read(tmp_path / "evidence.csv")[1:]] == [e["dossier"] for e in records]
    assert len(read(tmp_path / "steps.csv")) - 1 == sum(len(e["steps"]) for e in records)


def test_malformed_record_rejected(tmp_path):
    record = evidence(1)[0]
    bad = {"dossier": "HS-X", "procedure": "1.001612"}
    sink = open_sink(tmp_path, {})
    result = sink.write(items([bad, record]))
    sink.close()
    assert result.accepted == [f"{record['dossier']}@1"]
    assert "missing field" in result.rejected["HS-X@1"]
