"""The dvcqg source: DongBoHoSoMC dossiers and CapNhatTienDoHoSoMC progress rows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import orjson
import pytest
from conftest import pull_and_map as run

from isobridge.adapters.dvcqg import DvcqgOptions, DvcqgSource
from isobridge.core.adapters import AdapterContext
from isobridge.core.caselog import RecordError
from isobridge.core.privacy import Pseudonymizer

FIXTURES = Path(__file__).parent / "fixtures" / "docsrc"
KEY = "khoa-thu-nghiem"
P = Pseudonymizer(KEY).pseudonym


def make_source(**options) -> DvcqgSource:
    return DvcqgSource(DvcqgOptions(adapter="dvcqg", **options), AdapterContext("dvc", Pseudonymizer(KEY)))




@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "dvcqg"
    shutil.copytree(FIXTURES / "dvcqg", target)
    return target


def test_dossier_header_with_dates_status_and_pseudonymous_applicant(folder):
    fragments, _, _ = run(make_source(folder=folder))
    (dossier,) = fragments["2025-07-01/dongbo-hoso.json#0"]
    assert dossier == {
        "dossier": "000.00.31.H37-250701-0001", "procedure": "1.001612",
        "received_at": "2025-07-01T08:15:12+07:00", "due_at": "2025-07-04T08:15:12+07:00",
        "status": 10, "agency": "UBND xã Hòa Phú", "channel": "online", "applicant": P("048085001234"),
        "events": [
            {"at": "2025-07-03T15:00:00+07:00", "kind": "resolved"},
            {"at": "2025-07-04T09:05:00+07:00", "kind": "returned"},
            {"at": "2025-07-01T14:00:00+07:00", "kind": "supplement_requested"},
            {"at": "2025-07-02T08:30:00+07:00", "kind": "supplement_received"},
        ]}
    second = fragments["2025-07-01/dongbo-hoso.json#1"][0]
    assert second["status"] == 4 and second["channel"] == "direct"
    assert second["applicant"] == P("048190009876")  # from DinhDanhCHS when SoGiayToChuHoSo is absent


def test_bad_dossier_lists_every_reason(folder):
    _, errors, _ = run(make_source(folder=folder))
    reasons = errors["2025-07-01/dongbo-hoso.json#2"]
    assert any(r.startswith("NgayTiepNhan: '2025-07-02 9h'") for r in reasons)
    assert "TrangThaiHoSo: 12 is not a national status code 1–10" in reasons
    assert not any("Phan Văn Sai" in r for r in reasons)


def test_progress_rows_read_as_actions_done_from_their_unit_in_any_order(folder):
    """The bundled `opencps` profile: PhongBanXuLy is the unit an action was done from."""
    fragments, errors, _ = run(make_source(folder=folder))
    events = [e for key, frags in fragments.items() if "tien-do" in key for f in frags
              if f["dossier"] == "000.00.31.H37-250701-0001" for e in f["events"]]
    by_at = {(e["at"], e["kind"]): e for e in events}
    assert by_at[("2025-07-01T08:15:12+07:00", "received")] == {
        "at": "2025-07-01T08:15:12+07:00", "kind": "received", "step": "TN",
        "unit": "Bộ phận Một cửa", "actor": P("Trần Thị Bích")}
    assert by_at[("2025-07-01T08:15:12+07:00", "handover")] == {
        "at": "2025-07-01T08:15:12+07:00", "kind": "handover", "step": "TD", "from_unit": "Bộ phận Một cửa"}
    assert by_at[("2025-07-01T09:30:00+07:00", "handover")]["step"] == "PD"  # done from Phòng Kinh tế
    assert "step" not in by_at[("2025-07-01T14:00:00+07:00", "supplement_requested")]
    assert by_at[("2025-07-03T10:00:00+07:00", "handover")]["step"] == "TKQ"  # done from the leadership
    # the same row in two files maps to the same event: the ledger de-duplicates it
    assert sum(1 for e in events if e["at"] == "2025-07-01T09:30:00+07:00") == 2
    # a unit no rule knows is not made a step; "Chuyển trả kết quả" in status 9 is not a return
    assert errors["2025-07-03/tien-do-phe-duyet.json#3"][0].startswith("no rule of profile 'opencps'")
    assert errors["2025-07-03/tien-do-phe-duyet.json#2"][0].startswith("no rule of profile 'opencps'")
    assert errors["2025-07-03/tien-do-phe-duyet.json#4"] == [
        "MaHoSo: missing", "ThoiDiemXuLy: '2025/07/03' is not a yyyyMMddHHmmss date"]


def test_truncated_file_is_quarantined(folder):
    _, errors, _ = run(make_source(folder=folder))
    assert errors["2025-07-03/bi-cat.json"][0].startswith("2025-07-03/bi-cat.json: not valid JSON")


def test_no_personal_data_in_fragments(folder):
    fragments, _, _ = run(make_source(folder=folder))
    text = json.dumps(fragments, ensure_ascii=False)
    for personal in ("Nguyễn Văn An", "048085001234", "0905111222", "an.nguyen@example.vn",
                     "Lê Thị Hoa", "048190009876", "Trần Thị Bích", "Hồ Văn Thành"):
        assert personal not in text


def test_officer_names_can_be_kept(folder, tmp_path):
    mapping = tmp_path / "m.toml"
    text = (Path(__file__).parents[1] / "mappings" / "dvcqg.toml").read_text("utf-8")
    mapping.write_text(text.replace('officer_names = "pseudonym"', 'officer_names = "keep"'), "utf-8")
    fragments, _, _ = run(make_source(folder=folder, mapping=mapping))
    assert fragments["2025-07-01/tien-do.json#1"][0]["events"][0]["actor"] == "Trần Thị Bích"


def test_incremental_files_read_once_and_changed_files_again(folder):
    source = make_source(folder=folder)
    first, _, cursor = run(source)
    assert first
    assert run(source, cursor)[:2] == ({}, {})
    (folder / "2025-07-04.json").write_text(json.dumps({"service": "CapNhatTienDoHoSoMC", "data": [
        {"MaHoSo": "H37.31-250702-0002", "ThoiDiemXuLy": "20250704080000",
         "PhongBanXuLy": "Phòng Văn hóa - Xã hội", "NoiDungXuLy": "Thẩm định", "TrangThai": "4"}]}))
    new, _, _ = run(source, cursor)
    assert list(new) == ["2025-07-04.json#0"]
    assert new["2025-07-04.json#0"][0]["events"][0]["step"] == "PD"  # done from that unit: on to approval


def test_http_endpoint_verifies_tls_and_reads_unchanged_body_once(httpserver):
    body = {"service": "DongBoHoSoMC", "data": [{"MaHoSo": "X-250701-0001", "MaTTHC": "1.001612",
                                                  "NgayTiepNhan": "20250701080000", "TrangThaiHoSo": "2"}]}
    httpserver.expect_request("/dongbo").respond_with_json(body)
    source = make_source(url=httpserver.url_for("/dongbo"))
    assert source.options.http.verify_tls is True
    fragments, _, cursor = run(source)
    assert fragments["response#0"][0]["status"] == 2
    assert run(source, cursor)[0] == {}


def test_http_pages_resume_after_themselves_and_a_changed_body_is_read_again(httpserver):
    rows = [{"MaHoSo": f"X-250701-{n:04d}", "ThoiDiemXuLy": "20250701080000", "PhongBanXuLy": "Một cửa",
             "TrangThai": "1"} for n in range(5)]
    httpserver.expect_ordered_request("/tiendo").respond_with_json(rows)
    httpserver.expect_ordered_request("/tiendo").respond_with_json(rows)
    httpserver.expect_ordered_request("/tiendo").respond_with_json(rows + [{**rows[0], "MaHoSo": "X-250701-0009"}])
    source = make_source(url=httpserver.url_for("/tiendo"), page_size=2)
    first = next(iter(source.pages(None)))
    assert len(first.records) == 2
    rest, _, cursor = run(source, first.cursor)
    assert sorted(k.rsplit("#", 1)[1] for k in rest) == ["2", "3", "4"]
    changed, _, _ = run(source, cursor)
    assert len(changed) == 6


def test_http_mode_sends_the_bearer_token_and_refuses_both_folder_and_url(httpserver, tmp_path):
    httpserver.expect_request("/dongbo", headers={"Authorization": "Bearer bi-mat-123"}).respond_with_json([])
    source = make_source(url=httpserver.url_for("/dongbo"), token="bi-mat-123")
    assert source.check().ok and "bi-mat-123" not in repr(source.options)
    with pytest.raises(ValueError, match="exactly one of `folder` and `url`"):
        make_source(url=httpserver.url_for("/dongbo"), folder=tmp_path)


def test_replayed_record_without_decoded_data_maps_from_its_payload(folder):
    from isobridge.core.adapters import RawRecord
    source = make_source(folder=folder)
    for page in source.pages(None):
        for record in page.records:
            try:
                expected = source.map(record)
            except RecordError as exc:
                expected = exc.errors
            try:
                replayed = source.map(RawRecord(record.key, record.payload))
            except RecordError as exc:
                replayed = exc.errors
            assert replayed == expected, record.key


def test_registered_as_plugin():
    from isobridge.core.plugins import load_plugins
    assert load_plugins().source("dvcqg") is DvcqgSource


def test_quarantined_items_hold_personal_data_only_as_pseudonyms(tmp_path):
    from isobridge.core.adapters import RawRecord

    source = make_source(folder=tmp_path)
    item = {"MaHoSo": "X-1", "ChuHoSo": "Nguyễn Văn Công", "SoGiayToChuHoSo": "079199012345",
            "DanhSachHoSoBoSung": [{"NguoiYeuCauBoSung": "Lê Thị Cán Bộ", "NoiDungBoSung": "Bản sao CCCD"}],
            "NgayTiepNhan": "not a date"}
    kept = source.quarantine_payload(RawRecord("f.json#0", orjson.dumps(item).decode()))
    for clear in ("Nguyễn Văn Công", "079199012345", "Lê Thị Cán Bộ"):
        assert clear not in kept
    assert Pseudonymizer(KEY).pseudonym("079199012345") in kept
    assert "Bản sao CCCD" not in kept  # free text the mapping does not read stays out
