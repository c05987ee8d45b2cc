"""One bad OpenCPS dossier never stops the source; an endless listing stops clearly (issue 12)."""

from __future__ import annotations

import orjson
import pytest

from conftest import pull_and_map
from fakes.opencps import FakeOpenCPS, make_dossiers
from isobridge.core.paging import RepeatedPage
from test_http_opencps import FIRST, source


@pytest.fixture
def fake():
    return FakeOpenCPS(make_dossiers(25, FIRST))


def test_detail_404_quarantines_that_dossier_and_the_run_goes_on(fake, httpserver):
    src = source(fake, fake.install(httpserver))
    fake.fail("/dossiers/40006", times=1, status=404, body=b'{"message":"Not Found","code":404}')
    fragments, errors, cursor = pull_and_map(src)
    assert set(errors) == {"40006"}
    assert any("404" in reason for reason in errors["40006"])
    assert len(fragments) == 24 and orjson.loads(cursor) == {"done": "2024-03-20"}


def test_sequences_403_quarantines_that_dossier(fake, httpserver):
    src = source(fake, fake.install(httpserver))
    fake.fail("/dossiers/40007/sequences", times=1, status=403,
              body=b'{"message":"No Content.","code":403,"description":"not found"}')
    _, errors, _ = pull_and_map(src)
    assert set(errors) == {"40007"} and any("403" in reason for reason in errors["40007"])


def test_a_sequences_phase_that_is_a_string_quarantines_that_dossier(fake, httpserver):
    base = fake.install(httpserver)
    body = fake._sequences(fake.dossiers[40005])
    body["data"][1] = "Thẩm định - NGUYỄN VĂN 5"
    fake.fail("/dossiers/40005/sequences", times=1, status=200, body=orjson.dumps(body))
    src = source(fake, base)
    fragments, errors, _ = pull_and_map(src)
    assert set(errors) == {"40005"}
    assert any("phase 1" in reason and "str" in reason for reason in errors["40005"])
    assert len(fragments) == 24


def test_quarantined_payload_keeps_no_personal_field_in_clear(fake, httpserver):
    base = fake.install(httpserver)
    body = fake._sequences(fake.dossiers[40005])
    body["data"][1] = "Thẩm định - NGUYỄN VĂN 5"
    fake.fail("/dossiers/40005/sequences", times=1, status=200, body=orjson.dumps(body))
    src = source(fake, base)
    record = next(r for page in src.pages(None) for r in page.records if r.key == "40005")
    for clear in ("NGUYỄN VĂN", "Trần Thị B", "0912345678", "Số 1 đường A", "001087000005"):
        assert clear not in record.payload


def test_a_list_ignoring_start_and_end_stops_with_a_clear_error_keeping_the_checkpoint(fake, httpserver):
    base = fake.install(httpserver)
    original = fake._list
    fake._list = lambda query: original({**query, "start": "0", "end": "10"})
    src = source(fake, base)
    cursors = []
    with pytest.raises(RepeatedPage, match="repeats page 1"):
        for page in src.pages(None):
            cursors.append(page.cursor)
    assert len(cursors) == 1  # the first page was delivered and its checkpoint kept
    assert orjson.loads(cursors[0])["start"] == 10


def test_nfd_and_nfc_spellings_map_to_one_unit(fake, httpserver):
    import unicodedata

    base = fake.install(httpserver)
    body = fake._sequences(fake.dossiers[40000])
    for phase in body["data"]:
        phase["sequenceRole"] = unicodedata.normalize("NFD", phase["sequenceRole"])
    fake.fail("/dossiers/40000/sequences", times=1, status=200, body=orjson.dumps(body))
    fragments, _, _ = pull_and_map(source(fake, base))
    units = {e.get("unit") for e in fragments["40000"][0]["events"]} - {None}
    assert units and all(unicodedata.is_normalized("NFC", unit) for unit in units)


def test_rereading_an_up_to_date_checkpoint_leaves_it_put(fake, httpserver):
    src = source(fake, fake.install(httpserver), overlap_days=19)  # the window spans several pages
    done = orjson.dumps({"done": "2024-03-20"}).decode()
    pages = list(src.pages(done))
    assert len(pages) > 1 and all(page.cursor == done for page in pages)
