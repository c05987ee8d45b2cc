"""The coverage report in a real headless Chromium: renders, prints, shows its sections, no console errors.

Skipped when no Chromium is installed (CI installs Debian's `chromium` package).
"""

from __future__ import annotations

import pytest

from isobridge.core.cli import main

from test_evid_browser import BROWSER, render

pytestmark = pytest.mark.skipif(BROWSER is None, reason="Chromium is not installed (apt-get install -y chromium)")


def test_coverage_report_renders(tmp_path):
    folder = tmp_path / "demo"
    assert main(["demo", "--out", str(folder)]) == 0
    render(tmp_path, folder / "coverage.html",
           ["Báo cáo mức độ bao phủ quy trình ISO", "Tỷ lệ bao phủ theo cơ quan", "UBND xã Hòa Vang",
            "Đăng ký thành lập hộ kinh doanh", "100,0 %", "Đối chiếu với danh mục thủ tục hành chính quốc gia",
            "Dòng danh mục không đọc được: 0"])
