"""The control sheet as agencies file it: number line, place and date, two-level header, partners, units."""

from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path

import orjson
import pytest

from isobridge.core import samples
from isobridge.core.cli import sheet as sheet_cli
from isobridge.core.report.agencies import DocumentSettings
from isobridge.core.report.names import ProcedureNames
from isobridge.core.report.pdf import browser
from isobridge.core.report.sheet import handovers, partners, render_sheet
from isobridge.core.settings import load_settings

from evid_support import evidence

NAMES = ProcedureNames.from_dir(samples.PROCEDURES)
CONFIG = """
[documents]
place = "Đà Nẵng"

[documents.agencies."UBND xã Hòa Vang"]
governing_body = "UBND thành phố Đà Nẵng"
department = "Trung tâm Phục vụ hành chính công xã Hòa Vang"
number_suffix = "PKS-TTPVHCC"
place = "Hòa Vang"
"""


def record(procedure: str, *, with_step: str | None = None) -> dict:
    return next(e for e in evidence(300) if e["procedure"] == procedure and e["finished_at"]
                and (with_step is None or any(s["step"] == with_step for s in e["steps"])))


def documents(tmp_path) -> DocumentSettings:
    path = tmp_path / "isobridge.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return load_settings(path).documents


def text_of(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.split("<body>", 1)[1]))


def test_number_place_date_and_two_level_header_from_settings(tmp_path):
    dossier = record("1.010736")
    text = text_of(render_sheet(dossier, "06", NAMES, documents(tmp_path)))
    assert "UBND THÀNH PHỐ ĐÀ NẴNG TRUNG TÂM PHỤC VỤ HÀNH CHÍNH CÔNG XÃ HÒA VANG" in text
    assert "Số: ……/PKS-TTPVHCC" in text
    day = dossier["finished_at"][:10].split("-")
    assert f"Hòa Vang, ngày {day[2]} tháng {day[1]} năm {day[0]}" in text


def test_header_fallback_for_an_agency_not_configured(tmp_path):
    dossier = record("2.001023")
    text = text_of(render_sheet(dossier, "06", NAMES, documents(tmp_path)))
    assert "SỞ TƯ PHÁP THÀNH PHỐ ĐÀ NẴNG BỘ PHẬN MỘT CỬA" in text  # the agency above its one-stop department
    assert "Số: ……/PKS" in text and "Đà Nẵng, ngày " in text       # the deployment's default place


def test_coordinating_agencies_are_other_agencies_not_departments():
    dossier = record("1.010736", with_step="LY")
    header = DocumentSettings().header(dossier["agency"])
    assert partners(dossier, header) == ["Sở Xây dựng thành phố Đà Nẵng"]
    text = text_of(render_sheet(dossier, "06", NAMES))
    assert "Cơ quan, đơn vị phối hợp giải quyết hồ sơ: Sở Xây dựng thành phố Đà Nẵng Ngày nhận" in text
    alone = record("2.000908")
    assert "Cơ quan, đơn vị phối hợp giải quyết hồ sơ: Không có" in text_of(render_sheet(alone, "06", NAMES))


def test_one_unit_per_row_days_for_calendar_day_limits():
    dossier = record("2.001023")
    notes = {row["note"].split(":")[0]: row["note"] for row in handovers(dossier, NAMES)}
    xm = next(s for s in dossier["steps"] if s["step"] == "XM")
    days = f"{xm['used_minutes'] / 1440:.1f}/{xm['allowed_minutes'] / 1440:.1f}".replace(".", ",")
    assert notes["Bước Tra cứu, xác minh thông tin lý lịch"].endswith(f"{days} ngày")
    assert notes["Bước Ký Phiếu lý lịch tư pháp"].endswith("/8,0 giờ làm việc")


def test_version_1_evidence_says_used_time_is_working_hours():
    dossier = record("2.001023")
    dossier.pop("schema_version")
    for row in dossier["steps"]:
        row.pop("time_basis")
    note = next(r["note"] for r in handovers(dossier, NAMES) if "xác minh" in r["note"])
    assert "giờ làm việc, thời hạn 6,0 ngày" in note and "phiên bản 1" in note


def test_form_05_is_a5_and_form_06_is_a4():
    dossier = record("1.001612")
    assert "size: A5" in render_sheet(dossier, "05", NAMES)
    assert "size: A5" not in render_sheet(dossier, "06", NAMES)


# -- printed by Chromium ------------------------------------------------------------------------
chromium = pytest.mark.skipif(browser() is None, reason="Chromium is not installed (apt-get install -y chromium)")
PAPER = {"A4": (595.0, 842.0), "A5": (420.0, 595.0)}


def pdf_pages(path: Path) -> list[tuple[float, float]]:
    """(width, height) in points of every page of a PDF Chromium printed (its page objects are plain)."""
    data = path.read_bytes()
    boxes = re.findall(rb"/Type\s*/Page\b(?!s).*?/MediaBox\s*\[\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)",
                       data, re.S)
    if not boxes:  # MediaBox before /Type in the dictionary
        boxes = re.findall(rb"/MediaBox\s*\[\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*\][^>]*?/Type\s*/Page\b(?!s)",
                           data, re.S)
    return [(float(x1) - float(x0), float(y1) - float(y0)) for x0, y0, x1, y1 in boxes]


def run_cli(*argv) -> int:
    parser = argparse.ArgumentParser()
    sheet_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["sheet", *argv])
    return args.run(args)


@chromium
@pytest.mark.parametrize("form, paper", [("06", "A4"), ("05", "A5")])
def test_sheet_prints_one_page_of_its_paper(tmp_path, form, paper):
    dossier = max((e for e in evidence(300) if e["finished_at"]), key=lambda e: len(e["steps"]))
    assert len(dossier["steps"]) >= 5
    path = tmp_path / "evidence.jsonl"
    path.write_bytes(orjson.dumps(dossier) + b"\n")
    config = tmp_path / "isobridge.toml"
    config.write_text(CONFIG, encoding="utf-8")
    out = tmp_path / "phieu.html"
    assert run_cli(dossier["dossier"], "--evidence", str(path), "--config", str(config), "--form", form,
                   "--out", str(out), "--pdf") == 0
    pages = pdf_pages(out.with_suffix(".pdf"))
    assert len(pages) == 1, pages
    width, height = PAPER[paper]
    assert abs(pages[0][0] - width) < 2 and abs(pages[0][1] - height) < 2, pages
    dom = rendered_text(tmp_path, out)
    header = DocumentSettings.model_validate({"place": "Đà Nẵng"} | ({"agencies": {"UBND xã Hòa Vang": {
        "governing_body": "UBND thành phố Đà Nẵng", "department": "Trung tâm Phục vụ hành chính công xã Hòa Vang",
        "number_suffix": "PKS-TTPVHCC", "place": "Hòa Vang"}}})).header(dossier["agency"])
    assert f"{header.governing_body.upper()} {header.department.upper()}" in dom
    assert f"Số: ……/{header.number_suffix}" in dom and f"{header.place}, ngày " in dom
    assert "Cơ quan, đơn vị phối hợp giải quyết hồ sơ:" in dom and f"Mẫu số {form}" in dom


def rendered_text(tmp_path, page: Path) -> str:
    """The text of the page as headless Chromium laid it out (its DOM after rendering)."""
    done = subprocess.run([browser(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.resolve().as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-1000:]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", done.stdout.split("<body>", 1)[1]))
