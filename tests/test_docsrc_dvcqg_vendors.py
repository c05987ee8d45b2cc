"""National-portal payloads as real senders build them: OpenCPS and a Thanh Hóa-style system.

The fixtures follow public code (see `tests/fixtures/docsrc/dvcqg-*/SOURCES.md`); each test runs
them through the adapter, the ledger's merge and the engine, and checks the evidence.
"""

from __future__ import annotations

import json
import shutil
import unicodedata
from collections import defaultdict
from pathlib import Path

import orjson
import pytest
from conftest import at, pull_and_map as run

from isobridge.adapters.dvcqg import DvcqgOptions, DvcqgSource
from isobridge.adapters.dvcqg.mapping import MappingError
from isobridge.core import samples
from isobridge.core.adapters import AdapterContext, RawRecord
from isobridge.core.calendar import WorkingCalendar
from isobridge.core.caselog import RecordError
from isobridge.core.engine import Evaluator
from isobridge.core.merge import merge
from isobridge.core.privacy import Pseudonymizer
from isobridge.core.procedures import ProcedureBook

FIXTURES = Path(__file__).parent / "fixtures" / "docsrc"
KEY = "khoa-thu-nghiem"
P = Pseudonymizer(KEY).pseudonym


def make_source(folder: Path, **options) -> DvcqgSource:
    return DvcqgSource(DvcqgOptions(adapter="dvcqg", folder=folder, **options),
                       AdapterContext("dvc", Pseudonymizer(KEY)))


@pytest.fixture
def opencps(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURES / "dvcqg-opencps", tmp_path / "opencps"))


@pytest.fixture
def thanhhoa(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURES / "dvcqg-thanhhoa", tmp_path / "thanhhoa"))


@pytest.fixture(scope="module")
def evaluator() -> Evaluator:
    book = ProcedureBook.from_dir(samples.PROCEDURES)
    return Evaluator(book, WorkingCalendar.from_file(samples.CALENDAR), at("2025-07-10 12:00"))


def evidence(fragments: dict, evaluator: Evaluator) -> dict[str, dict]:
    """Merge the fragments per dossier as the ledger does and evaluate each evaluable dossier."""
    by_dossier: dict[str, list[dict]] = defaultdict(list)
    for key in sorted(fragments):
        for fragment in fragments[key]:
            by_dossier[fragment["dossier"]].append(fragment)
    merged = {code: merge(None, parts) for code, parts in by_dossier.items()}
    return {code: evaluator.evaluate_record(dossier) for code, dossier in merged.items()
            if all(dossier.get(name) is not None for name in ("procedure", "received_at", "status"))}


def steps(result: dict) -> list[tuple[str, str | None]]:
    return [(row["step"], row["verdict"]) for row in result["steps"]]


def kinds(result: dict) -> set[str]:
    return {finding["kind"] for finding in result["nonconformities"]}


def test_opencps_rows_name_the_unit_an_action_was_done_from(opencps, evaluator):
    fragments, errors, _ = run(make_source(opencps))
    assert not [key for key in errors if "0101" in key]
    result = evidence(fragments, evaluator)["000.00.31.H37-250701-0101"]
    # reception done at once and handed to the examination, which lasted until the specialist unit
    # sent the dossier to the leadership (the old reading: reception late at 585 of 240 minutes,
    # the examination missing, "Phòng Kinh tế" an unknown step)
    assert steps(result) == [("TN", "on_time"), ("TD", "on_time"), ("PD", "on_time"), ("TKQ", "on_time")]
    assert result["steps"][0]["used_minutes"] == 0
    assert result["steps"][1]["started_at"] == "2025-07-01T08:15:12+07:00"
    assert result["steps"][1]["from_unit"] == "Bộ phận Một cửa"
    assert result["steps"][2]["from_unit"] == "Phòng Kinh tế"
    assert result["verdict"] == "early" and result["nonconformities"] == []


def test_opencps_row_of_an_unknown_unit_is_quarantined_not_made_a_step(opencps):
    row = json.loads((opencps / "2025-07" / "tien-do-0101-02.json").read_text("utf-8"))
    row["data"][0].update(PhongBanXuLy="Văn thư", NoiDungXuLy="Vào sổ")
    (opencps / "2025-07" / "tien-do-0101-02.json").write_text(json.dumps(row, ensure_ascii=False), "utf-8")
    fragments, errors, _ = run(make_source(opencps))
    (reason,) = errors["2025-07/tien-do-0101-02.json#0"]
    assert "no rule of profile 'opencps' places this row" in reason and "'Văn thư'" in reason
    assert "Vào sổ" not in reason
    assert not any(e.get("step") == "Văn thư" for frags in fragments.values() for f in frags
                   for e in f.get("events", []))


def test_thanhhoa_rows_place_steps_from_text_and_status_without_a_unit(thanhhoa, evaluator):
    fragments, errors, _ = run(make_source(thanhhoa, profile="thanhhoa"))
    assert not [key for key in errors if key.startswith("tien-trinh")], errors
    results = evidence(fragments, evaluator)
    done = results["H56.39-250701-0001"]
    # "Trình ký" (no unit) enters the approval; "Chuyen xu ly ho so" (unaccented) the examination;
    # "Kết thúc xử lý hồ sơ" with status 9 is no hand-over
    assert [row["step"] for row in done["steps"]] == ["TN", "TD", "PD", "TKQ"]
    assert done["steps"][2]["started_at"] == "2025-07-02T09:00:00+07:00"
    assert "missing_step" not in kinds(done) and "late_step" not in kinds(done)
    assert done["finished_at"] == "2025-07-02T11:00:00+07:00"


def test_thanhhoa_supplement_row_pauses_the_dossier(thanhhoa, evaluator):
    fragments, _, _ = run(make_source(thanhhoa, profile="thanhhoa"))
    waiting = evidence(fragments, evaluator)["H56.39-250701-0002"]
    # "Cán bộ trả hồ sơ bổ sung" (TrangThai 9) stops the clock; it does not enter the return step
    assert waiting["verdict"] == "paused"
    assert steps(waiting) == [("TN", "on_time"), ("TD", "open")]
    assert "late_step" not in kinds(waiting)


def test_thanhhoa_status_9_without_end_is_quarantined_with_its_reason(thanhhoa):
    fragments, errors, _ = run(make_source(thanhhoa, profile="thanhhoa"))
    (reason,) = errors["ho-so.json#2"]
    assert "9 without NgayKetThucXuLy for dossier H56.39-250701-0003" in reason
    # the closing row the sync adds at NgayTiepNhan is read as carrying nothing
    rows = [e for frags in fragments.values() for f in frags if f["dossier"] == "H56.39-250701-0003"
            for e in f["events"]]
    assert {e["kind"] for e in rows} == {"received", "handover"}


def test_empty_status_is_quarantined_naming_the_dossier(opencps):
    fragments, errors, _ = run(make_source(opencps))
    key = "2025-07/dongbo-hoso-0102-khong-trang-thai.json#0"
    assert key not in fragments
    (reason,) = errors[key]
    assert reason.startswith("TrangThaiHoSo: empty for dossier 000.00.31.H37-250701-0102")


def test_dong_bo_trang_thai_ho_so_is_not_read_and_says_why(opencps):
    _, errors, _ = run(make_source(opencps))
    (reason,) = errors["2025-07/dongbo-trangthai-ttkm.json#0"]
    assert reason.startswith("dossier 000.00.31.H37-250701-0103: DongBoTrangThaiHoSo is not read")
    assert "folded status" in reason


def quarantined(source: DvcqgSource, key: str) -> str:
    for page in source.pages(None):
        for record in page.records:
            if record.key == key:
                return source.quarantine_payload(record)
    raise KeyError(key)


def test_quarantine_keeps_only_what_the_mapping_reads(opencps):
    source = make_source(opencps)
    kept = quarantined(source, "2025-07/dongbo-hoso-0102-khong-trang-thai.json#0")
    for clear in ("Võ Văn Khải", "0911222333", "dvcqg-techid-7788120", "Hồ sơ của ông", "hộ kinh doanh"):
        assert clear not in kept
    data = orjson.loads(kept)
    assert data["SoGiayToChuHoSo"] == P("Võ Văn Khải")
    assert {"MaDoiTuong", "TrichYeuHoSo", "SoDienThoai", "TenTTHC"} <= set(data["_withheld"])
    assert data["MaHoSo"] == "000.00.31.H37-250701-0102" and data["TrangThaiHoSo"] == ""
    row = orjson.loads(quarantined(source, "2025-07/tien-do-0101-02.json#0"))
    assert row["NguoiXuLy"] == P("Hồ Văn Thành")
    assert row["NoiDungXuLy"] == P("Chuyển trình lãnh đạo-Hồ sơ đủ điều kiện, đề nghị cấp")


def test_quarantined_item_replays_to_the_same_outcome(opencps):
    source = make_source(opencps)
    for page in source.pages(None):
        for record in page.records:
            if "0102" not in record.key and "dongbo-hoso-0101" not in record.key:
                continue
            replay = RawRecord(record.key, source.quarantine_payload(record))
            try:
                expected = source.map(record)
            except RecordError as exc:
                expected = exc.errors
            try:
                again = source.map(replay)
            except RecordError as exc:
                again = exc.errors
            assert again == expected, record.key


def test_a_file_that_is_not_json_is_quarantined_only_scrubbed(tmp_path):
    folder = tmp_path / "hong"
    folder.mkdir()
    clear = '[{"MaHoSo": "X-1", "ChuHoSo": "Nguyễn Thị Bí Mật", "SoGiayToChuHoSo": "079199012345", '
    (folder / "cat-do.json").write_text(clear, "utf-8")
    source = make_source(folder)
    (record,) = next(iter(source.pages(None))).records
    with pytest.raises(RecordError, match="not valid JSON"):
        source.map(record)
    kept = source.quarantine_payload(record)
    for secret in ("Nguyễn", "Bí Mật", "079199012345", "ChuHoSo"):
        assert secret not in kept and secret not in record.payload
    summary = orjson.loads(kept)
    assert summary["bytes"] == len(clear.encode()) and len(summary["sha256"]) == 64
    assert summary["preview"].startswith('[{"…": "…')


def test_mapping_check_lists_rows_no_rule_places_and_unconfirmed_readings(opencps, thanhhoa):
    row = json.loads((opencps / "2025-07" / "tien-do-0101-02.json").read_text("utf-8"))
    row["data"][0].update(PhongBanXuLy="Văn thư", NoiDungXuLy="Vào sổ-ghi chú riêng")
    (opencps / "2025-07" / "tien-do-0101-02.json").write_text(json.dumps(row, ensure_ascii=False), "utf-8")
    from isobridge.adapters.rest.check import unmapped_codes

    codes = unmapped_codes(make_source(opencps))
    assert codes[("row", "opencps: unit='Văn thư' status='4' text='vao so'")] == 1
    assert codes[("status", "TrangThaiHoSo ''")] == 1
    assert ("service", "DongBoTrangThaiHoSo (not read: folded status, no procedure)") in codes
    rows = json.loads((thanhhoa / "tien-trinh-0002.json").read_text("utf-8"))
    rows[2]["NoiDungXuLy"] = "Cán bộ trả bổ sung hồ sơ"
    (thanhhoa / "tien-trinh-0002.json").write_text(json.dumps(rows, ensure_ascii=False), "utf-8")
    codes = unmapped_codes(make_source(thanhhoa, profile="thanhhoa"))
    assert any(category == "unconfirmed" and "read as stopped" in code for category, code in codes)


def test_a_mapping_of_the_old_form_is_refused_with_a_pointer(tmp_path):
    old = tmp_path / "cu.toml"
    old.write_text('[[steps]]\ncontent = "tiếp nhận"\nstep = "TN"\n', "utf-8")
    with pytest.raises(MappingError, match=r"cu.toml: .*`\[\[steps\]\]` and `\[progress.kinds\]` are replaced"):
        make_source(tmp_path, mapping=old)
    with pytest.raises(MappingError, match=r"profile 'igate' is not in the mapping \(it has \['opencps', 'thanhhoa'\]\)"):
        make_source(tmp_path, profile="igate")


def test_merge_puts_a_reception_first_at_its_instant():
    """A step received and handed on at once (kinds sort 'handover' before 'received' by name)."""
    moment = "2025-07-01T08:15:12+07:00"
    header = {"dossier": "X", "events": [{"at": moment, "kind": "handover", "step": "TD"}]}
    row = {"dossier": "X", "events": [{"at": moment, "kind": "received", "step": "TN"}]}
    for parts in ([header, row], [row, header]):
        assert [e["step"] for e in merge(None, parts)["events"]] == ["TN", "TD"]


@pytest.mark.parametrize(("text", "status", "expected"), [
    # labels of DichVuCong_KhoaLuan_PASETO@7d1730c (SyncLocalDataToDVCQGService.PushData and the
    # QuaTrinhXuLyHoSo rows its commands write), as posted with an empty PhongBanXuLy
    ("Trình ký", "4", ("handover", "PD")),
    ("Trinh ky", "4", ("handover", "PD")),
    ("TRÌNH KÝ", "4", ("handover", "PD")),
    (unicodedata.normalize("NFD", "Trình ký"), "4", ("handover", "PD")),
    ("Tiếp nhận hồ sơ", "2", ("received", "TN")),
    ("Kết thúc xử lý hồ sơ", "9", None),
    ("Hồ sơ không có ngày hẹn trả", "9", None),
    ("Nộp hồ sơ trực tuyến", "1", None),
    ("Trình thông qua dự thảo yêu cầu bổ sung hồ sơ", "4", None),
    ("Cán bộ trả hồ sơ bổ sung", "9", ("supplement_requested", None)),
    ("Công dân thực hiện NVTC", "9", ("paused", None)),
    ("Đã trả kết quả", "10", ("returned", None)),
    ("Trả lại người xử lý trước", "4", ("sent_back", "TD")),
    ("Từ chối tiếp nhận hồ sơ", "3", ("refused", None)),
])
def test_thanhhoa_labels_are_placed_accent_insensitively(tmp_path, text, status, expected):
    source = make_source(tmp_path, profile="thanhhoa")
    row = {"MaHoSo": "H56-1", "NguoiXuLy": "Cán bộ một cửa", "NoiDungXuLy": text, "ThoiDiemXuLy": "20250701080000",
           "TrangThai": status, "PhongBanXuLy": None}
    fragments = source.map(RawRecord("r#0", orjson.dumps(row).decode(), ("CapNhatTienDoHoSoMC", row)))
    if expected is None:
        assert fragments == []
    else:
        (event,) = fragments[0]["events"]
        assert (event["kind"], event.get("step")) == expected and "unit" not in event


def test_rules_written_with_accents_match_any_spelling_and_a_bad_pattern_is_refused(tmp_path):
    mapping = tmp_path / "m.toml"
    mapping.write_text('profile = "x"\n[profiles.x]\nrow = "enters"\n'
                       '[[profiles.x.rules]]\ntext = "Trình ký"\nstep = "PD"\n', "utf-8")
    source = make_source(tmp_path, mapping=mapping)
    row = {"MaHoSo": "X-1", "NoiDungXuLy": "TRINH  KY ho so", "ThoiDiemXuLy": "20250701080000", "TrangThai": "4"}
    (fragment,) = source.map(RawRecord("r#0", orjson.dumps(row).decode(), ("CapNhatTienDoHoSoMC", row)))
    assert fragment["events"][0]["step"] == "PD"
    mapping.write_text(mapping.read_text("utf-8").replace("Trình ký", "(Trình"), "utf-8")
    with pytest.raises(MappingError, match=r"profiles\.x\.rules\.0: Value error, pattern '\(Trình' is not a regular"):
        make_source(tmp_path, mapping=mapping)


def test_a_payload_file_with_a_byte_order_mark_is_read(thanhhoa):
    path = thanhhoa / "tien-trinh-0002.json"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    fragments, errors, _ = run(make_source(thanhhoa, profile="thanhhoa"))
    assert "tien-trinh-0002.json" not in errors and fragments["tien-trinh-0002.json#0"]
