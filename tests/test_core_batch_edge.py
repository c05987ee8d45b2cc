"""`isobridge evaluate` reads lines as written: a BOM, NFD text and bytes that are not UTF-8."""

from __future__ import annotations

import base64
import io
import json
import unicodedata

from isobridge.core.batch import RejectSink, evaluate_file, evaluate_stream

LINE = {"dossier": "HS-1", "procedure": "9.000001", "agency": "UBND xã Hòa Phước", "channel": "direct",
        "received_at": "2025-03-03T08:00:00+07:00", "status": 4,
        "events": [{"at": "2025-03-03T08:00:00+07:00", "kind": "received", "unit": "Bộ phận một cửa"}]}


def case_log(tmp_path, *lines: bytes):
    path = tmp_path / "cases.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def text(record: dict) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode()


def evaluate(evaluator, path, tmp_path, workers: int):
    out, rejects = io.BytesIO(), RejectSink(tmp_path / "rejects.jsonl")
    if workers:
        evaluate_file(evaluator, path, out, rejects, workers=workers)
    else:
        with open(path, "rb") as lines:
            evaluate_stream(evaluator, lines, out, rejects, workers=1)
    rejects.close()
    evidence = [json.loads(line) for line in out.getvalue().splitlines()]
    written = rejects.path.read_bytes().splitlines() if rejects.path.exists() else []
    return evidence, [json.loads(line) for line in written]


def test_a_byte_order_mark_costs_no_dossier(evaluator, tmp_path):
    path = case_log(tmp_path, b"\xef\xbb\xbf" + text(LINE), text(dict(LINE, dossier="HS-2")))
    for workers in (0, 1, 2):
        evidence, rejects = evaluate(evaluator, path, tmp_path, workers)
        assert [e["dossier"] for e in evidence] == ["HS-1", "HS-2"] and rejects == []


def test_decomposed_text_becomes_nfc_evidence(evaluator, tmp_path):
    nfd = unicodedata.normalize("NFD", text(LINE).decode()).encode()
    assert nfd != text(LINE)
    for workers in (0, 2):
        evidence, _ = evaluate(evaluator, case_log(tmp_path, nfd), tmp_path, workers)
        assert evidence[0]["agency"] == "UBND xã Hòa Phước"
        assert evidence[0]["steps"][0]["unit"] == unicodedata.normalize("NFC", "Bộ phận một cửa")


def test_a_line_that_is_not_utf8_is_rejected_with_its_exact_bytes(evaluator, tmp_path):
    broken = text(LINE).replace("Hòa".encode(), b"H\xf2a")  # Latin-1 'ò'
    for workers in (0, 2):
        evidence, rejects = evaluate(evaluator, case_log(tmp_path, broken), tmp_path, workers)
        assert evidence == [] and len(rejects) == 1
        assert rejects[0]["text"] is None and base64.b64decode(rejects[0]["base64"]) == broken
        assert "\ufffd" not in json.dumps(rejects[0], ensure_ascii=False)
