"""The roll-up in a real headless Chromium: it renders, prints to PDF, shows its sections, no console errors.

Skipped when no Chromium is installed (CI installs Debian's `chromium` package).
"""

from __future__ import annotations

import pytest

from isobridge.core.report.aggregate import Period
from isobridge.core.report.rollup import EVIDENCE, Rollup, SourceInput
from isobridge.core.report.rollup_page import write_rollup
from isobridge.core.report.rollup_rank import previous_period

from evid_support import evidence
from test_evid_browser import BROWSER, render

pytestmark = pytest.mark.skipif(BROWSER is None, reason="Chromium is not installed (apt-get install -y chromium)")


def test_rollup_renders(tmp_path):
    year = Period("2026-01-01", "2026-12-31")
    rollup = Rollup([year, previous_period(year)])
    source = SourceInput("tinh.jsonl", EVIDENCE)
    rollup.inputs.append(source)
    for index, record in enumerate(evidence(600)):
        # spread the dossiers over seven agencies so the ranking and the draw have something to do
        rollup.add(record | {"agency": f"UBND xã số {index % 7 + 1}"}, source)
    result = write_rollup(rollup, tmp_path / "tong-hop.html", None, seed=2026, weakest=2, share=0.4)
    assert len(result.ranked) == 7 and len(result.inspection.drawn) == 2
    render(tmp_path, result.html, ["Báo cáo tổng hợp kết quả giải quyết thủ tục hành chính",
                                   "I. Xếp hạng các cơ quan", "Quy tắc xếp hạng",
                                   "II. Đề xuất danh sách đơn vị kiểm tra trực tiếp", "Chọn ngẫu nhiên",
                                   "Xếp cuối bảng (nhóm yếu nhất)", "III. So sánh với kỳ trước",
                                   "Kỳ trước: từ ngày 01/01/2025 đến ngày 31/12/2025",
                                   "IV. Nguồn dữ liệu và thời điểm cập nhật", "Chưa xác định",
                                   "(sự kiện mới nhất trong tệp)"])
