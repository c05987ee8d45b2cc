"""The report and control sheet in a real headless Chromium: render, screenshot, text, no console errors.

Skipped when no Chromium is installed (CI installs Debian's `chromium` package).
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess

import pytest

from isobridge.core import samples
from isobridge.core.report.build import write_report
from isobridge.core.report.names import ProcedureNames
from isobridge.core.report.sheet import render_sheet

from evid_support import evidence

BROWSER = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
                if shutil.which(name)), None)
pytestmark = pytest.mark.skipif(BROWSER is None, reason="Chromium is not installed (apt-get install -y chromium)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
         "--enable-logging=stderr", "--v=0"]
CONSOLE = re.compile(r"CONSOLE\(\d+\)\]? ?\"?(.*)|Uncaught .*", re.MULTILINE)


def chromium(tmp_path, *args) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    return subprocess.run([BROWSER, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


def console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def render(tmp_path, page, must_contain: list[str]) -> None:
    url = page.resolve().as_uri()
    shot = tmp_path / "shot.png"
    done = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1000,1400", url)
    assert shot.exists(), done.stderr[-2000:]
    assert png_size(shot) == (1000, 1400) and shot.stat().st_size > 20_000  # something was drawn
    assert console_messages(done.stderr) == []
    dom = chromium(tmp_path, "--dump-dom", url)
    assert console_messages(dom.stderr) == []
    for text in must_contain:
        assert text in dom.stdout, text
    pdf = tmp_path / "print.pdf"
    printed = chromium(tmp_path, f"--print-to-pdf={pdf}", "--no-pdf-header-footer", url)
    assert pdf.exists() and pdf.read_bytes().startswith(b"%PDF"), printed.stderr[-2000:]


def test_console_detector_sees_script_errors(tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text("<html><body><script>undefinedFunction()</script></body></html>")
    done = chromium(tmp_path, "--dump-dom", broken.as_uri())
    assert console_messages(done.stderr), "the console check must catch a script error"


def test_report_renders(tmp_path):
    names = ProcedureNames.from_dir(samples.PROCEDURES)
    _, files = write_report(iter(evidence(300)), tmp_path / "report.html", names=names, limit=50)
    render(tmp_path, files.html, ["Báo cáo kết quả thực hiện mục tiêu chất lượng",
                                  "Quyết định 766/QĐ-TTg", "Tỷ lệ hồ sơ giải quyết trước hạn và đúng hạn",
                                  "Sổ theo dõi hồ sơ", "Mục tiêu 98,0 %"])


def test_control_sheet_renders(tmp_path):
    record = next(e for e in evidence(50) if e["finished_at"])
    page = tmp_path / "sheet.html"
    page.write_text(render_sheet(record, "06", ProcedureNames.from_dir(samples.PROCEDURES)), encoding="utf-8")
    render(tmp_path, page, ["Phiếu kiểm soát quá trình giải quyết hồ sơ", record["dossier"],
                            "1. Giao:", "Hẹn trả kết quả"])
