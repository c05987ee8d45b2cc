"""The source contract (isobridge.testing) on the dvcqg fixtures built from the real senders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from isobridge.adapters.dvcqg import DvcqgSource
from isobridge.testing import SourceContract

FIXTURES = Path(__file__).parent / "fixtures" / "docsrc"


class RealSenderContract(SourceContract):
    """A dvcqg folder of one sender's payloads; a missing folder is the bad option."""

    adapter = DvcqgSource
    fixture = ""
    extra: dict = {}

    @pytest.fixture
    def folder(self, tmp_path) -> Path:
        return Path(shutil.copytree(FIXTURES / self.fixture, tmp_path / self.fixture))

    @pytest.fixture
    def options(self, folder):
        return {"folder": str(folder), "page_size": 1, **self.extra}

    @pytest.fixture
    def bad_options(self, tmp_path):
        return {"folder": str(tmp_path / "missing")}

    @pytest.fixture
    def plant_malformed(self, folder):
        def plant():
            (folder / "cat-do.json").write_text('[{"MaHoSo": "X-1", "NgayTiepNhan": "2025', encoding="utf-8")
            return 1
        return plant


class TestOpenCPSPayloadContract(RealSenderContract):
    fixture = "dvcqg-opencps"

    @pytest.fixture
    def plant_personal(self, folder):
        def plant(values):
            header = folder / "2025-07" / "dongbo-hoso-0101.json"
            body = json.loads(header.read_text("utf-8"))
            body["data"][0].update(MaHoSo="000.00.31.H37-250701-0888", ChuHoSo=values["applicant_name"],
                                   MaDoiTuong=values["applicant_id"], SoDienThoai=values["phone"],
                                   Fax=values["phone"], Email=values["email"], ThongTinKhac=values["address"],
                                   TrichYeuHoSo=f"Hồ sơ của {values['applicant_name']}")
            (folder / "rieng-tu.json").write_text(json.dumps(body, ensure_ascii=False), "utf-8")
            row = json.loads((folder / "2025-07" / "tien-do-0101-02.json").read_text("utf-8"))
            row["data"][0].update(MaHoSo="000.00.31.H37-250701-0888", NguoiXuLy=values["officer"],
                                  NoiDungXuLy=f"Chuyển trình lãnh đạo-đã gọi {values['phone']}")
            (folder / "rieng-tu-tien-do.json").write_text(json.dumps(row, ensure_ascii=False), "utf-8")
        return plant


class TestThanhHoaPayloadContract(RealSenderContract):
    fixture = "dvcqg-thanhhoa"
    extra = {"profile": "thanhhoa"}

    @pytest.fixture
    def plant_personal(self, folder):
        def plant(values):
            item = json.loads((folder / "ho-so.json").read_text("utf-8"))[0]
            item.update(MaHoSo="H56.39-250701-0888", ChuHoSo=values["applicant_name"],
                        SoGiayToChuHoSo=values["applicant_id"], SoDienThoai=values["phone"],
                        DinhDanhCHS=[{"LoaiDinhDanh": "1", "SoDinhDanh": values["applicant_id"]}],
                        TrichYeuHoSo=f"{values['address']} - {values['email']}")
            rows = [{"MaHoSo": "H56.39-250701-0888", "NguoiXuLy": values["officer"], "NoiDungXuLy": "Trình ký",
                     "ThoiDiemXuLy": "20250702090000", "TrangThai": "4", "PhongBanXuLy": None}]
            (folder / "rieng-tu.json").write_text(json.dumps([item], ensure_ascii=False), "utf-8")
            (folder / "rieng-tu-tien-trinh.json").write_text(json.dumps(rows, ensure_ascii=False), "utf-8")
        return plant
