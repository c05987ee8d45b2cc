"""The process control sheet (Mẫu 06 / Mẫu 05): hand-over rows, header, command."""

from __future__ import annotations

import argparse

import orjson
import pytest

from isobridge.core import samples
from isobridge.core.cli import sheet as sheet_cli
from isobridge.core.report.names import ProcedureNames
from isobridge.core.report.sheet import handovers, render_sheet

from evid_support import evidence

NAMES = ProcedureNames.from_dir(samples.PROCEDURES)


def finished_record() -> dict:
    return next(e for e in evidence(100) if e["finished_at"] and len(e["steps"]) >= 4)


def test_one_row_per_handover_with_the_giving_step_result():
    record = finished_record()
    rows = handovers(record, NAMES)
    steps = record["steps"]
    assert len(rows) == len(steps)  # hand-overs between steps, then the return to the applicant
    assert rows[0]["from"] == steps[1]["from_unit"] and rows[0]["to"] == steps[1]["unit"]
    assert rows[0]["at"] == steps[1]["started_at"]
    expected = {"early": "Trước hạn", "on_time": "Đúng hạn", "late": "Quá hạn"}[steps[0]["verdict"]]
    assert rows[0]["result"] == expected
    assert rows[-1]["to"] == "Tổ chức, cá nhân"


def test_sheet_content_and_forms():
    record = finished_record()
    page = render_sheet(record, "06", NAMES)
    assert "PHIẾU KIỂM SOÁT" in page.upper() and "Mẫu số 06" in page and "03/2025/TT-VPCP" in page
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in page and "Độc lập - Tự do - Hạnh phúc" in page
    assert record["dossier"] in page and "1. Giao:" in page and "2. Nhận:" in page
    assert " giờ " in page and " phút, ngày " in page and "size: A4" in page
    old = render_sheet(record, "05", NAMES)
    assert "Mẫu số 05" in old and "01/2018/TT-VPCP" in old
    with pytest.raises(ValueError, match="form '07'"):
        render_sheet(record, "07", NAMES)


def test_escapes_unit_names():
    record = finished_record()
    record["steps"][1]["unit"] = "<img src=x onerror=alert(1)>"
    assert "<img" not in render_sheet(record, names=NAMES)


def run_cli(*argv) -> int:
    parser = argparse.ArgumentParser()
    sheet_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["sheet", *argv])
    return args.run(args)


def test_cli(tmp_path, capsys):
    records = evidence(30)
    path = tmp_path / "evidence.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in records) + b"\n")
    out = tmp_path / "sheet.html"
    assert run_cli(records[3]["dossier"], "--evidence", str(path), "--out", str(out), "--form", "05") == 0
    assert records[3]["dossier"] in out.read_text(encoding="utf-8")
    assert run_cli("HS-NOPE", "--evidence", str(path), "--out", str(out)) == 1
    assert "'HS-NOPE' is not in" in capsys.readouterr().err
