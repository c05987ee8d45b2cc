"""`isobridge report --rollup` on the demo deployment: ledgers, evidence files, the seed, usage errors, wording."""

from __future__ import annotations

import csv
import re
import shutil

import orjson
import pytest

from isobridge.core.cli import main
from isobridge.core.ledger import Ledger, pack_blob

from test_docs_report import ISO_INSTANT, english_words, visible_text

QUARTER = ["--from", "2026-07-01", "--to", "2026-09-30"]
VILLAGE, JUSTICE = "UBND xã Hòa Vang", "Sở Tư pháp thành phố Đà Nẵng"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rollup") / "demo"
    assert main(["demo", "--out", str(folder)]) == 0
    return folder


@pytest.fixture
def deployment(demo, tmp_path):
    """A copy of the demo deployment the test may change."""
    return shutil.copytree(demo, tmp_path / "demo")


def rows(path) -> dict[str, dict]:
    return {row["Cơ quan"]: row for row in csv.DictReader(path.open(encoding="utf-8-sig"))}


def test_the_demo_writes_the_rollup(demo):
    page = (demo / "rollup.html").read_text(encoding="utf-8")
    assert VILLAGE in page and JUSTICE in page and "Kỳ trước: từ ngày 01/04/2026 đến ngày 30/06/2026" in page
    found = rows(demo / "rollup.tong-hop.csv")
    assert set(found) == {VILLAGE, JUSTICE}
    assert {row["Tỷ lệ hồ sơ có quy trình ISO (%)"] for row in found.values()} == {"100.0"}


def test_a_dossier_without_an_iso_procedure_lowers_the_coverage(deployment, capsys):
    ledger = Ledger(deployment / "ledger.db")
    record = {"dossier": "HS-NO-ISO", "procedure": "9.999999", "agency": VILLAGE, "status": 2,
              "received_at": "2026-08-01T09:00:00+07:00",
              "events": [{"at": "2026-08-01T09:00:00+07:00", "kind": "received", "source": "sample"}]}
    with ledger.transaction() as db:
        db.execute("INSERT INTO dossiers (dossier, source, record, record_hash, state, updated_at)"
                   " VALUES ('HS-NO-ISO', 'sample', ?, '', 'failed', '2026-12-01T00:00:00+00:00')",
                   (pack_blob(orjson.dumps(record)),))
    ledger.close()
    out = deployment / "tong-hop.html"
    assert main(["report", "--rollup", "--config", str(deployment / "isobridge.toml"), *QUARTER,
                 "--seed", "11", "--out", str(out)]) == 0
    village = rows(out.with_suffix(".tong-hop.csv"))[VILLAGE]
    covered, known = int(village["Hồ sơ có quy trình ISO"]), int(village["Hồ sơ tiếp nhận đã rõ thủ tục"])
    assert known == covered + 1 and float(village["Tỷ lệ hồ sơ có quy trình ISO (%)"]) < 100
    assert "(đồng bộ: sample)" in village["Dữ liệu cập nhật đến"]
    assert "seed 11" in capsys.readouterr().err


def split_by_agency(deployment):
    """The demo's evidence file as one file per agency."""
    files = {VILLAGE: deployment / "xa.jsonl", JUSTICE: deployment / "so.jsonl"}
    with files[VILLAGE].open("wb") as village, files[JUSTICE].open("wb") as justice:
        for line in (deployment / "evidence.jsonl").read_bytes().splitlines():
            (village if orjson.loads(line)["agency"] == VILLAGE else justice).write(line + b"\n")
    return files


def test_several_evidence_files_coverage_unknown_freshness_from_the_file(deployment):
    files = split_by_agency(deployment)
    out = deployment / "tep.html"
    assert main(["report", "--rollup", "--evidence", str(files[VILLAGE]), "--evidence", str(files[JUSTICE]),
                 *QUARTER, "--compare", "previous", "--seed", "5", "--out", str(out)]) == 0
    found = rows(out.with_suffix(".tong-hop.csv"))
    assert set(found) == {VILLAGE, JUSTICE}
    assert {row["Tỷ lệ hồ sơ có quy trình ISO (%)"] for row in found.values()} == {"Chưa xác định"}
    assert all(row["Dữ liệu cập nhật đến"].endswith("(sự kiện mới nhất trong tệp)") for row in found.values())
    ledger = rows(deployment / "rollup.tong-hop.csv")  # the demo's, from the ledger, same quarter
    for agency in (VILLAGE, JUSTICE):
        for column in ("Số hồ sơ", "Đã giải quyết", "Tỷ lệ đúng hạn (%)", "Điểm không phù hợp", "Hạng kỳ trước"):
            assert found[agency][column] == ledger[agency][column], (agency, column)
    page = out.read_text(encoding="utf-8")
    assert str(files[VILLAGE]) in page and "Tệp minh chứng (JSON Lines)" in page


def test_the_default_seed_is_printed_and_reproduces_the_list(deployment, capsys):
    config = str(deployment / "isobridge.toml")
    first = deployment / "a.html"
    assert main(["report", "--rollup", "--config", config, *QUARTER, "--inspect-weakest", "0",
                 "--inspect-share", "50%", "--out", str(first)]) == 0
    seed = re.search(r"seed (\d+)", capsys.readouterr().err).group(1)
    assert f"<b>{seed}</b>" in first.read_text(encoding="utf-8")
    again = deployment / "b.html"
    assert main(["report", "--rollup", "--config", config, *QUARTER, "--inspect-weakest", "0",
                 "--inspect-share", "0.5", "--seed", seed, "--out", str(again)]) == 0
    chosen = {name: row["Kiểm tra trực tiếp"] for name, row in rows(first.with_suffix(".tong-hop.csv")).items()}
    assert chosen == {name: row["Kiểm tra trực tiếp"] for name, row in rows(again.with_suffix(".tong-hop.csv")).items()}
    assert sorted(chosen.values()) == ["", "Chọn ngẫu nhiên"]


@pytest.mark.parametrize(("extra", "code", "message"), [
    (["--agency", VILLAGE], 2, "--rollup covers every agency"),
    (["--compare", "previous"], 1, "--compare previous needs the period"),
    (["--inspect-share", "2"], 2, "is not a share"),
])
def test_usage_errors_of_the_rollup(deployment, capsys, extra, code, message):
    try:
        done = main(["report", "--rollup", "--config", str(deployment / "isobridge.toml"), *extra,
                     "--out", str(deployment / "x.html")])
    except SystemExit as exc:  # argparse's own usage errors
        done = exc.code
    assert done == code and message in capsys.readouterr().err


def test_several_inputs_need_the_rollup(deployment, capsys):
    files = split_by_agency(deployment)
    assert main(["report", "--evidence", str(files[VILLAGE]), "--evidence", str(files[JUSTICE]),
                 "--out", str(deployment / "x.html")]) == 2
    assert "several only with --rollup" in capsys.readouterr().err


def test_an_unreadable_line_is_reported_and_exits_3(deployment, capsys):
    broken = deployment / "hong.jsonl"
    broken.write_bytes((deployment / "evidence.jsonl").read_bytes() + b"{not json\n")
    out = deployment / "hong.html"
    assert main(["report", "--rollup", "--evidence", str(broken), "--seed", "1", "--out", str(out)]) == 3
    assert "unusable records 1" in capsys.readouterr().err
    assert "Bản ghi không sử dụng được" in out.read_text(encoding="utf-8")


def test_no_english_word_and_no_iso_instant_in_the_rollup(demo):
    page = visible_text((demo / "rollup.html").read_text(encoding="utf-8")).replace(str(demo / "ledger.db"), "")
    table = (demo / "rollup.tong-hop.csv").read_text(encoding="utf-8-sig")
    for name, text in (("html", page), ("csv", table)):
        assert english_words(text) == set(), name
        assert ISO_INSTANT.search(text) is None, (name, ISO_INSTANT.search(text))
