"""The edxml source: document and status packets, incremental reading, hostile files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import pull_and_map as run

from isobridge.adapters.edxml import EdxmlOptions, EdxmlSource
from isobridge.core.adapters import AdapterContext, RawRecord
from isobridge.core.caselog import RecordError
from isobridge.core.privacy import Pseudonymizer

FIXTURES = Path(__file__).parent / "fixtures" / "docsrc"
KEY = "khoa-thu-nghiem"


def make_source(folder: Path, **options) -> EdxmlSource:
    context = AdapterContext("vpdt", Pseudonymizer(KEY))
    return EdxmlSource(EdxmlOptions(adapter="edxml", folder=folder, **options), context)




@pytest.fixture
def packets(tmp_path: Path) -> Path:
    folder = tmp_path / "edxml"
    shutil.copytree(FIXTURES / "edxml", folder)
    return folder


def test_document_and_status_packets_become_inter_agency_events(packets):
    fragments, errors, _ = run(make_source(packets))
    sent = fragments["2025-07/gui-thue-0001.xml"]
    assert sent == [{"dossier": "000.00.31.H37-250701-0001", "events": [{
        "at": "2025-07-01T14:05:00+07:00", "kind": "handover", "step": "LIEN_THONG",
        "from_unit": "000.00.31.H37", "unit": "000.00.12.H37",
        "actor": Pseudonymizer(KEY).pseudonym("Trần Thị Bích")}]}]
    done = fragments["2025-07/trangthai-0001-06.xml"][0]
    assert done["dossier"] == "000.00.31.H37-250701-0001"
    assert done["events"][0] | {"actor": None} == {
        "at": "2025-07-03T09:30:00+07:00", "kind": "handover", "step": "TKQ",
        "from_unit": "000.00.12.H37", "unit": "000.00.31.H37", "actor": None}
    # the same status packet in another file gives the same event (the ledger de-duplicates it)
    assert fragments["2025-07/ban-sao/trangthai-0001-06.xml"] == fragments["2025-07/trangthai-0001-06.xml"]
    refused = fragments["2025-07/trangthai-0002-02.xml"][0]
    assert refused["dossier"] == "H37.31-250702-0002"
    assert refused["events"][0]["kind"] == "sent_back" and refused["events"][0]["reason"] == "edxml-refused"
    assert fragments["2025-07/trangthai-0001-01.xml"] == []  # arrival makes no event by default


def test_reply_document_hands_the_dossier_back(packets):
    fragments, _, _ = run(make_source(packets))
    reply = fragments["2025-06/tra-loi-0007.xml"][0]
    assert reply["dossier"] == "H37.31-250630-0007"
    event = reply["events"][0]
    assert (event["kind"], event["step"], event["from_unit"], event["unit"]) == (
        "handover", "TKQ", "000.00.12.H37", "000.00.31.H37")
    assert event["at"] == "2025-07-02T15:40:00+07:00"


REAL = "2025-08/"  # fixtures following public edXML code (each cites repository, path, commit)


def test_messageheader_status_of_a_provincial_axis_closes_the_step(packets):
    """status_processing_05.edxml keeps StatusCode inside MessageHeader (no To): a status."""
    fragments, errors, _ = run(make_source(packets))
    assert REAL + "trangthai-0011-06-messageheader.xml" not in errors
    assert fragments[REAL + "trangthai-0011-06-messageheader.xml"] == [{"dossier": "H37.31-250801-0011", "events": [{
        "at": "2025-08-05T16:45:00+07:00", "kind": "handover", "step": "TKQ",
        "from_unit": "000.00.12.H37", "unit": "000.00.31.H37",
        "actor": Pseudonymizer(KEY).pseudonym("Phạm Quốc Việt")}]}]
    assert fragments[REAL + "trangthai-0011-05-messageheader.xml"] == []  # in progress: no event


def test_soap_header_status_with_day_first_timestamps_closes_the_step(packets):
    fragments, errors, _ = run(make_source(packets))
    assert REAL + "trangthai-0012-06-soap.xml" not in errors
    assert fragments[REAL + "trangthai-0012-06-soap.xml"] == [{"dossier": "H37.31-250801-0012", "events": [{
        "at": "2025-08-06T14:10:00+07:00", "kind": "handover", "step": "TKQ",
        "from_unit": "000.00.20.H37", "unit": "000.00.31.H37"}]}]


def test_soap_body_status_and_codes_without_leading_zero_are_read(packets):
    """edoc-integrator's own API reads Status from the SOAP Body; its confirm trace says "1"."""
    fragments, errors, _ = run(make_source(packets))
    for name in ("trangthai-0012-03-soap-body.xml", "trangthai-0011-01-edoc.xml"):
        assert REAL + name not in errors and fragments[REAL + name] == []
    source = make_source(packets)
    text = (packets / "2025-08" / "trangthai-0011-01-edoc.xml").read_text("utf-8").replace(
        "<edXML:StatusCode>1<", "<edXML:StatusCode>6<")
    (packets / "2025-08" / "trangthai-0011-01-edoc.xml").write_text(text, "utf-8")
    fragments, errors, _ = run(source)
    assert fragments[REAL + "trangthai-0011-01-edoc.xml"][0]["events"][0]["step"] == "TKQ"


def test_real_document_layout_starts_the_step(packets):
    """edoc_new.edxml: default-namespace root, Signature in the header, dd/MM/yyyy dates."""
    fragments, errors, _ = run(make_source(packets))
    assert fragments[REAL + "gui-thue-0011.xml"] == [{"dossier": "H37.31-250801-0011", "events": [{
        "at": "2025-08-01T08:15:00+07:00", "kind": "handover", "step": "LIEN_THONG",
        "from_unit": "000.00.31.H37", "unit": "000.00.12.H37",
        "actor": Pseudonymizer(KEY).pseudonym("Trần Thị Bích")}]}]


def test_business_spelling_of_soap_builders_is_read(packets):
    """edoc-integrator's SOAP builder (mineutil/XmlUtil.java getBusinessChild) writes
    Business/BusinessDocType: a revocation (1) must not be read as a new hand-over."""
    path = packets / "2025-08" / "gui-thue-0011.xml"
    text = path.read_text("utf-8").replace("Bussiness", "Business").replace(
        "<edXML:BusinessDocType>0<", "<edXML:BusinessDocType>1<")
    path.write_text(text, "utf-8")
    fragments, errors, _ = run(make_source(packets))
    assert fragments[REAL + "gui-thue-0011.xml"] == [] and REAL + "gui-thue-0011.xml" not in errors


def test_unknown_status_and_unmatched_dossier_are_quarantined(packets):
    _, errors, _ = run(make_source(packets))
    assert "'99' is not in the mapping" in errors["2025-07/trangthai-0003-99.xml"][0]
    assert "no dossier code" in errors["2025-07/trangthai-khac.xml"][0]


def test_unmatched_can_be_skipped_by_mapping(packets, tmp_path):
    text = (Path(__file__).parents[1] / "mappings" / "edxml.toml").read_text("utf-8")
    mapping = tmp_path / "edxml.toml"
    mapping.write_text(text.replace('unmatched = "quarantine"', 'unmatched = "skip"'), "utf-8")
    fragments, errors, _ = run(make_source(packets, mapping=mapping))
    assert fragments["2025-07/trangthai-khac.xml"] == []
    assert "2025-07/trangthai-khac.xml" not in errors


def test_free_text_and_personal_names_never_reach_fragments(packets):
    fragments, _, _ = run(make_source(packets))
    text = repr(fragments)
    for personal in ("Nguyễn Văn An", "Lê Thị Hoa", "Trần Thị Bích", "Phạm Quốc Việt", "0905123456"):
        assert personal not in text


def test_second_run_reads_nothing_and_a_new_packet_only_it(packets):
    source = make_source(packets)
    first, _, cursor = run(source)
    assert len(first) >= 6
    again, errors, same = run(source, cursor)
    assert again == {} and errors == {}
    shutil.copy(packets / "2025-07" / "trangthai-0001-01.xml", packets / "2025-07" / "moi.xml")
    new, _, _ = run(source, cursor)
    assert list(new) == ["2025-07/moi.xml"]


def test_pages_respect_page_size(packets):
    pages = list(make_source(packets, page_size=2).pages(None))
    assert all(len(page.records) <= 2 for page in pages) and len(pages) >= 4


def test_attachments_are_never_read(packets, tmp_path):
    """A packet whose attachment region is not even well-formed still maps: it is never read."""
    text = (packets / "2025-07" / "gui-thue-0001.xml").read_text("utf-8")
    broken = text.replace("</edXML:Value>", "<<garbage").replace("</edXML:edXML>", "")
    (packets / "2025-07" / "gui-thue-0001.xml").write_text(broken + "A" * 300_000, "utf-8")
    fragments, errors, _ = run(make_source(packets))
    assert fragments["2025-07/gui-thue-0001.xml"][0]["dossier"] == "000.00.31.H37-250701-0001"


HOSTILE = ["xxe-passwd.xml", "billion-laughs.xml", "external-dtd.xml", "parameter-entity.xml"]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_dtd_files_are_quarantined_and_leak_nothing(tmp_path, name):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(FIXTURES / "edxml-hostile" / name, folder / name)
    source = make_source(folder)
    (record,) = [record for page in source.pages(None) for record in page.records]
    with pytest.raises(RecordError) as caught:
        source.map(record)
    assert "DOCTYPE declarations" in caught.value.errors[0]
    secrets = Path("/etc/passwd").read_text().splitlines()[0]
    assert secrets not in record.payload and secrets not in str(caught.value)
    assert "haha" not in record.payload


def test_oversized_packet_is_quarantined_without_reading_it(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    big = folder / "big.xml"
    with open(big, "wb") as handle:  # a sparse 3 GB file: never read, refused on its size
        handle.truncate(3 * 1024 ** 3)
    source = make_source(folder, max_bytes=10 * 1024 * 1024)
    (record,) = [record for page in source.pages(None) for record in page.records]
    with pytest.raises(RecordError) as caught:
        source.map(record)
    assert "larger than the limit" in caught.value.errors[0]


def test_too_deep_nesting_is_quarantined(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    head = '<edXML:edXML xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016"><edXML:edXMLEnvelope><edXML:edXMLHeader>'
    (folder / "deep.xml").write_text(head + "<edXML:x>" * 500 + "</edXML:x>" * 500 + "</edXML:edXMLHeader></edXML:edXMLEnvelope></edXML:edXML>")
    source = make_source(folder)
    (record,) = [record for page in source.pages(None) for record in page.records]
    with pytest.raises(RecordError) as caught:
        source.map(record)
    assert "nested deeper" in caught.value.errors[0]


def test_foreign_and_broken_documents_are_quarantined(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.xml").write_text("<html><body>not a packet</body></html>")
    (folder / "b.xml").write_text('<edXML:edXML xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016"><edXML:edXMLEnvelope>')
    _, errors, _ = run(make_source(folder))
    assert "not edXML:edXML" in errors["a.xml"][0]
    assert "not well-formed" in errors["b.xml"][0]


def test_registered_as_plugin():
    from isobridge.core.plugins import load_plugins
    assert load_plugins().source("edxml") is EdxmlSource


def http_source(url: str, **options) -> EdxmlSource:
    context = AdapterContext("vpdt", Pseudonymizer(KEY))
    return EdxmlSource(EdxmlOptions(adapter="edxml", url=url, **options), context)


def packet_list(folder: Path) -> list[dict]:
    paths = sorted(folder.rglob("*.xml"))
    return [{"id": f"{n:04d}", "edxml": p.read_text(encoding="utf-8")} for n, p in enumerate(paths, 1)]


def test_http_endpoint_ignoring_limit_and_after_is_paged_and_stops(packets, httpserver):
    items = packet_list(packets)
    httpserver.expect_request("/edxml").respond_with_json(items)  # ignores `after` and `limit`
    source = http_source(httpserver.url_for("/edxml"), page_size=3)
    pages = list(source.pages(None))
    last = f"{len(items):04d}"
    assert [len(p.records) for p in pages] == [3] * (len(items) // 3) + ([len(items) % 3] if len(items) % 3 else [])
    assert [p.cursor for p in pages][-1] == last and pages[0].cursor == "0003"
    assert list(source.pages(last)) == []
    assert [r.key for r in pages[0].records] == ["packet:0001", "packet:0002", "packet:0003"]


def test_http_packet_without_text_is_quarantined_and_a_bad_listing_fails_the_run(httpserver):
    from isobridge.core.http import MalformedResponse
    httpserver.expect_ordered_request("/edxml").respond_with_json([{"id": "1", "edxml": None}])
    httpserver.expect_ordered_request("/edxml").respond_with_json({"not": "a list"})
    fragments, errors, cursor = run(http_source(httpserver.url_for("/edxml"), http={"max_attempts": 1}))
    assert errors == {"packet:1": ["packet:1: no edxml text"]} and cursor == "1"
    with pytest.raises(MalformedResponse):
        list(http_source(httpserver.url_for("/edxml"), http={"max_attempts": 1}).pages(None))


def test_replayed_record_without_decoded_data_maps_from_its_payload(packets):
    (packets / "hong.xml").write_text("<edXML:edXML><chua-dong", encoding="utf-8")
    source = make_source(packets)

    def outcome(record):
        try:
            return source.map(record)
        except RecordError as exc:
            return exc.errors
    for page in source.pages(None):
        for record in page.records:
            assert outcome(RawRecord(record.key, record.payload)) == outcome(record), record.key


def test_quarantined_packet_keeps_no_officer_name_in_clear_and_replays_the_same(packets):
    source = make_source(packets)
    record = next(r for page in source.pages(None) for r in page.records if r.key.endswith("trangthai-0003-99.xml"))
    payload = source.quarantine_payload(record)
    assert "Staff" in payload and not any(
        name in payload for name in ("Phạm Quốc Việt", "Trần Thị Bích", "Nguyễn Văn An"))
    with pytest.raises(RecordError) as replayed:
        source.map(RawRecord(record.key, payload))
    with pytest.raises(RecordError) as original:
        source.map(record)
    assert replayed.value.errors == original.value.errors


PERSONAL = ("Đỗ Thị Mai", "048190001234", "Ngô Thị Lan", "Nguyễn Văn An", "Lê Thị Hoa", "Lê Văn Hùng",
            "Trần Thị Bích", "Phạm Quốc Việt", "0905123456", "84905123456", "viet.pq@gdt.gov.vn",
            "bich.tt@danang.gov.vn", "thửa đất số 12")


def outcome_text(source: EdxmlSource, record: RawRecord) -> str:
    try:
        return repr(source.map(record))
    except RecordError as exc:
        return repr(exc.errors)


def test_free_text_never_leaves_in_clear_payload_quarantine_fragments_or_errors(packets):
    """Issue 12: status descriptions, subjects, contents and officers' details are kept only as
    the dossier code found in them or as a pseudonym (an allow-list of header fields)."""
    source = make_source(packets)
    records = [record for page in source.pages(None) for record in page.records]
    assert len(records) >= 14
    for record in records:
        stored = record.payload + source.quarantine_payload(record) + outcome_text(source, record)
        assert not [value for value in PERSONAL if value in stored], record.key
        replayed = RawRecord(record.key, source.quarantine_payload(record))
        assert outcome_text(source, replayed) == outcome_text(source, record), record.key
    header = {r.key: json.loads(r.payload)["header"] for r in records}
    pseudonym = Pseudonymizer(KEY).pseudonym
    assert header[REAL + "trangthai-0012-03-soap-body.xml"]["Status/Description"] == [
        pseudonym("Đã tiếp nhận, cán bộ Ngô Thị Lan thụ lý")]
    assert header[REAL + "gui-thue-0011.xml"]["MessageHeader/Subject"] == ["H37.31-250801-0011"]
    assert "MessageHeader/Content" not in header[REAL + "gui-thue-0011.xml"]
    assert "MessageHeader/SignerInfo/FullName" not in header[REAL + "gui-thue-0011.xml"]


def test_a_payload_stored_in_clear_is_minimised_when_quarantined_again(packets):
    source = make_source(packets)
    clear = json.dumps({"packet": "old", "header": {
        "Status/StatusCode": ["99"], "Status/From/OrganId": ["000.00.12.H37"],
        "Status/Description": ["Từ chối hồ sơ H37.31-250702-0002 của bà Lê Thị Hoa"],
        "Status/StaffInfo/Mobile": ["0905123456"], "Status/Timestamp": ["2025/07/02 10:00:00"]}},
        ensure_ascii=False)
    again = source.quarantine_payload(RawRecord("old", clear))
    assert "Lê Thị Hoa" not in again and "0905123456" not in again and "H37.31-250702-0002" in again
    assert outcome_text(source, RawRecord("old", again)) == outcome_text(source, RawRecord("old", clear))


def test_http_endpoint_answering_the_same_page_forever_stops_loudly(packets, httpserver):
    """An endpoint that ignores `after` but keeps `limit` would serve its first page forever:
    before, the listing ended quietly after it (every later packet silently never read)."""
    from werkzeug import Response

    from isobridge.core.paging import RepeatedPage
    items = packet_list(packets)

    def first_page_only(request):
        return Response(json.dumps(items[:int(request.args["limit"])]), content_type="application/json")
    httpserver.expect_request("/edxml").respond_with_handler(first_page_only)
    source = http_source(httpserver.url_for("/edxml"), page_size=3)
    seen = []
    with pytest.raises(RepeatedPage) as caught:
        for page in source.pages(None):
            seen.append(page.cursor)
    assert seen == ["0003"] and "repeats page 1" in str(caught.value)
    assert "checkpoint kept" in str(caught.value)
