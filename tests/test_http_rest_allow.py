"""What a rest record keeps: only the paths its profile reads, text in NFC, personal values as pseudonyms."""

from __future__ import annotations

import unicodedata
from pathlib import Path

from isobridge.adapters.rest import RestSource, RestSourceOptions
from isobridge.core.adapters import AdapterContext
from isobridge.core.privacy import Pseudonymizer

PROFILE = """
personal = ["officer"]
[profile]
name = "allow-list"
[records]
path = "items"
items = "items"
[paging]
style = "none"
[fields]
key = "id"
dossier = "code"
procedure = "procedure.code"
received_at = "received"
status = "status"
[events]
path = "history"
at = "at"
step = "step"
unit = "unit.name"
actor = "by.name"
[steps]
"thẩm_định" = "TD"
[status]
"4" = 4
"""


def source(tmp_path: Path, base: str) -> RestSource:
    path = tmp_path / "profile.toml"
    path.write_text(PROFILE, encoding="utf-8")
    options = {"adapter": "rest", "profile": str(path), "base_url": base,
               "http": {"max_attempts": 2, "backoff_seconds": 0.001, "rate_limit": 0}}
    return RestSource(RestSourceOptions.model_validate(options), AdapterContext("vendor", Pseudonymizer("k")))


def dossier(form: str) -> dict:
    text = lambda value: unicodedata.normalize(form, value)  # noqa: E731
    return {"id": f"r-{form}", "code": "HS-1",
            "procedure": {"code": "1.001612", "name": text("Đăng ký hộ kinh doanh")},
            "received": "2026-03-02T08:00:00+07:00", "status": 4,
            "ghiChu": text("Bà Nguyễn Thị Hoa, 0912345678, số 3 Hùng Vương"),
            "officer": text("Phạm Văn Bốn"),
            "history": [{"at": "2026-03-02T10:00:00+07:00", "step": text("thẩm_định"),
                         "unit": {"name": text("Phòng Kinh tế"), "head": text("Đỗ Văn Năm")},
                         "by": {"name": text("Phạm Văn Bốn"), "phone": "0987000111"}}]}


def test_a_record_keeps_only_what_the_profile_reads(httpserver, tmp_path) -> None:
    httpserver.expect_request("/items").respond_with_json({"items": [dossier("NFC")]})
    src = source(tmp_path, httpserver.url_for("/"))
    (record,) = [r for page in src.pages(None) for r in page.records]
    for text in ("Nguyễn Thị Hoa", "0912345678", "Hùng Vương", "Đỗ Văn Năm", "0987000111", "Phạm Văn Bốn",
                 "Đăng ký"):
        assert text not in record.payload, text
    fragment = src.map(record)[0]
    assert fragment["agency"] == ""  # no agency path: it used to be the whole record, as text
    assert fragment["events"][0]["actor"] == src.context.pseudonym("Phạm Văn Bốn")
    assert fragment["events"][0]["unit"] == "Phòng Kinh tế"


def test_nfd_and_nfc_records_of_one_dossier_map_alike(httpserver, tmp_path) -> None:
    httpserver.expect_request("/items").respond_with_json({"items": [dossier("NFD"), dossier("NFC")]})
    src = source(tmp_path, httpserver.url_for("/"))
    decomposed, composed = (src.map(r)[0] for page in src.pages(None) for r in page.records)
    assert decomposed == composed
    assert decomposed["events"][0]["step"] == "TD"  # the NFD vendor step matches the profile's NFC key
