"""The csv source's fast paths give what the full paths give: page decoding, plain rows, memos."""

from __future__ import annotations

import json
import sys
import unicodedata

import pytest

from isobridge.adapters.csv.mapping import INVALID, CsvMapping, Memo, RowMapper
from isobridge.adapters.csv.source import decode, decode_lines, nfc_inert
from isobridge.core.caselog import RecordError
from isobridge.core.privacy import Pseudonymizer

HEADER = ("Mã hồ sơ,Mã TTHC,Cơ quan tiếp nhận,Kênh nộp,Ngày tiếp nhận,Ngày hẹn trả,Trạng thái,Số CCCD,"
          "Thời điểm,Thao tác,Bước,Bên giao,Bên nhận,Người xử lý,Lý do").split(",")
ROW = ("H37-0001,1.001612,UBND xã Hòa Phú,Trực tuyến,01/07/2025 08:00:00,04/07/2025 17:00:00,Đang xử lý,"
       "048085001234,01/07/2025 08:15:00,Tiếp nhận,TN,,Bộ phận Một cửa,Trần Thị Bích,")


def test_the_nfc_inert_ranges_hold_only_characters_nfc_never_touches():
    seconds = set()  # characters that compose with the one before them
    for code in range(sys.maxunicode + 1):
        parts = unicodedata.decomposition(chr(code)).split()
        if len(parts) == 2 and not parts[0].startswith("<"):
            seconds.add(int(parts[1], 16))
    for code in [*range(0x80, 0x280), *range(0x1E00, 0x1F00)]:
        char = chr(code)
        assert code not in seconds and unicodedata.combining(char) == 0
        assert unicodedata.normalize("NFC", char) == char
        assert nfc_inert(char.encode())


@pytest.mark.parametrize("text", ["e\u0301", "\ufeffabc", "\u1f71", "\u1161", "\u2126", "\u0344", "ạ\u0323"])
def test_text_that_nfc_may_change_is_not_inert(text):
    assert not nfc_inert(text.encode())


def test_vietnamese_text_is_inert():
    assert nfc_inert("Trần Thị Bích, Bộ phận Một cửa, Đang xử lý, Ứng Hòa, Phường Quỳnh Lôi".encode())


LINES = [b"H37,\xc4\x90\xc3\xa0 N\xe1\xba\xb5ng\r\n", "xa\u0300 Ho\u0300a\n".encode(),
         b"\xef\xbb\xbfBOM,a\r\n", b"lone\rcr\r\r\n", "a\u2028b\x85c\x0bd\n".encode(), b"\xe1\xbb\r\n", "Ω Å\n".encode(), b"last, no newline"]


@pytest.mark.parametrize("encoding", ["auto", "utf-8"])
def test_a_page_decodes_as_each_line_alone(encoding):
    for lines in (LINES, LINES[:1], [b"ascii only\r\n", b"x\n"], [b"\xc3\xa0\n", b"\xef\xbb\xbf\n"]):
        assert decode_lines(lines, encoding) == [decode(line.rstrip(b"\r\n"), encoding) for line in lines]


def test_a_page_with_a_windows_1258_line_decodes_line_by_line():
    lines = [*LINES, "Tr\u1ea7n Th\u1ecb".encode("utf-8") + b"\n", "Tra\u0300n".encode("cp1258") + b"\xd2\n"]
    texts = decode_lines(lines, "auto")
    assert texts == [decode(line.rstrip(b"\r\n"), "auto") for line in lines]
    assert texts[-1] == unicodedata.normalize("NFC", "Tra\u0300n\u0309") and texts[-2] == "Trần Thị"


def test_a_windows_1258_page_is_normalised_and_keeps_its_bytes():
    lines = [b"Ho\xcca Phu\xec,Ti\xea\xecp\r\n", b"\xef\xbb\xbfx\n", b"\x81 undefined"]  # tone marks apart
    assert decode_lines(lines, "cp1258") == [
        unicodedata.normalize("NFC", line.rstrip(b"\r\n").decode("cp1258", "surrogateescape")) for line in lines]
    assert decode_lines(lines, "cp1258")[0] == "Hòa Phú,Tiếp"


def plan_of(header=HEADER, **mapping):
    m = CsvMapping.load()
    if mapping:
        m = CsvMapping.model_validate({**m.model_dump(), **mapping})
    return RowMapper(m, Pseudonymizer("k").pseudonym).plan(header)


def fields(row: str, **changes) -> str:
    values = row.split(",")
    for at, value in changes.items():
        values[int(at[1:])] = value
    return ",".join(values)


def test_a_plain_row_maps_to_the_validating_paths_fragment_in_the_same_key_order():
    plan = plan_of()
    for text in (ROW, fields(ROW, c2="", c10="", c12="", c14="Thiếu giấy"), fields(ROW, c9="", c3="Trực tiếp"),
                 fields(ROW, c7="", c13="", c6="10")):
        fast, full = plan.plain(text), plan.fragment(text.split(","))
        assert fast is not None and json.dumps(fast, ensure_ascii=False) == json.dumps(full, ensure_ascii=False)


@pytest.mark.parametrize("text, reason", [
    (fields(ROW, c0=""), "(dossier): empty"),
    (fields(ROW, c4="31/06/2025"), "'31/06/2025' matches none of"),
    (fields(ROW, c8=""), "(at): empty"),
    (fields(ROW, c9="Chuyển nhầm"), "is not in the mapping's values.kind"),
    (fields(ROW, c6="11"), "is not a national status code"),
])
def test_a_row_that_is_not_plain_is_left_to_the_validating_path(text, reason):
    plan = plan_of()
    assert plan.plain(text) is None
    with pytest.raises(RecordError) as caught:
        plan.fragment(text.split(","))
    assert reason in " ".join(caught.value.errors)


@pytest.mark.parametrize("text", [ROW + ",extra", ROW.rpartition(",")[0], '"H37-0001"' + ROW[8:]])
def test_quoted_rows_and_rows_of_another_width_are_not_plain(text):
    assert plan_of().plain(text) is None


def test_values_mapped_to_nothing_keep_the_validating_paths_shape():
    plan = plan_of(officer_names="drop")
    text = fields(ROW, c7="  ")  # a blank applicant: the header field stays, as None
    assert plan.plain(text) == plan.fragment(text.split(",")) and plan.plain(text)["applicant"] is None
    assert "actor" not in plan.plain(text)["events"][0]


def test_a_header_without_a_mapped_column_has_no_plain_path():
    plan = plan_of(HEADER[:-1])
    assert plan.missing == ["Lý do"] and plan.plain(ROW.rpartition(",")[0]) is None


def test_a_memo_converts_each_value_once_and_stays_bounded():
    calls = []
    memo = Memo(lambda value: calls.append(value) or (INVALID if value == "x" else value.upper()), size=3)
    assert [memo[v] for v in ("a", "a", "x", "b")] == ["A", "A", INVALID, "B"] and calls == ["a", "x", "b"]
    memo["c"]
    assert len(memo) <= 3 and memo["c"] == "C" and calls[-1] == "c"
