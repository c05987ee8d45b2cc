"""The declarative `rest` source with the bundled iGate profile and a login-token profile."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import orjson
import pytest

from isobridge.adapters.rest import ProfileError, RestSource, RestSourceOptions, load_profile, unmapped_codes
from isobridge.core.adapters import AdapterContext
from isobridge.core.caselog import RecordError, parse_case
from isobridge.core.http import HttpUnavailable, MalformedResponse
from isobridge.core.paging import RepeatedPage
from isobridge.core.privacy import Pseudonymizer
from fakes.igate import FakeIGate, make_igate_dossiers
from rest_support import FLAT_RECORD

FAST = {"backoff_seconds": 0.001, "backoff_max_seconds": 0.01, "rate_limit": 0, "max_attempts": 3}
LOGIN_PROFILE = """
[profile]
name = "login test"
[auth]
type = "login"
login_path = "auth/token"
login_fields = { grant_type = "password", username = "{username}", password = "{password}" }
[records]
path = "pa/dossier/search"
items = "content"
[paging]
style = "offset"
size = 7
total_path = "totalElements"
[fields]
key = "id"
dossier = "code"
procedure = "procedure.code"
received_at = "acceptedDate"
status = "dossierStatus.id"
[status]
"3" = 4
"9" = 10
"""


def context() -> AdapterContext:
    return AdapterContext("igate", Pseudonymizer("k"))


def igate(base: str, **overrides) -> RestSource:
    options = RestSourceOptions.model_validate({
        "adapter": "rest", "profile": "igate", "base_url": base, "token": "igate-T0KEN-abc",
        "http": FAST, **overrides})
    return RestSource(options, context())


def pull(src, cursor=None):
    records = []
    for page in src.pages(cursor):
        records.extend(page.records)
        cursor = page.cursor
    return records, cursor


def test_igate_profile_pulls_spring_pages(httpserver):
    fake = FakeIGate(make_igate_dossiers(120))
    src = igate(fake.install(httpserver))
    records, cursor = pull(src)
    assert len({r.key for r in records}) == 120 and len(fake.seen_params) == 3
    fragment = src.map(records[5])[0]
    parse_case(fragment)
    assert fragment["status"] == 4 and fragment["channel"] == "direct"
    assert fragment["events"][0] == {"at": "2025-07-02T09:00:00+07:00", "kind": "received"}
    assert fragment["events"][1] == {"at": "2025-07-02T11:00:00+07:00", "kind": "handover", "step": "tham_dinh",
                                     "unit": "PKT", "actor": src.context.pseudonym("Nguyễn Văn Thẩm Định")}
    assert fragment["procedure"] == "1.001612" and fragment["source_procedure"] == "1.001612.000.00.00.H48"
    text = " ".join(r.payload for r in records)
    assert "038095000005" not in text and src.context.pseudonym("038095000005") in text
    assert orjson.loads(cursor)["since"]


def test_incremental_cursor_pulls_only_changes(httpserver):
    fake = FakeIGate(make_igate_dossiers(30))
    src = igate(fake.install(httpserver))
    _, cursor = pull(src)
    again, cursor2 = pull(src, cursor)
    assert len(again) <= 2  # only the overlap hour
    latest = datetime.fromisoformat(fake.dossiers[-1]["updatedDate"])
    fake.dossiers[0]["updatedDate"] = (latest + timedelta(hours=5)).isoformat()
    fake.dossiers[0]["dossierStatus"]["id"] = 9
    changed, _ = pull(src, cursor2)
    assert fake.dossiers[0]["id"] in {r.key for r in changed}
    assert src.map([r for r in changed if r.key == fake.dossiers[0]["id"]][0])[0]["status"] == 10


def test_login_token_refreshed_when_expired(httpserver, tmp_path, caplog):
    profile = tmp_path / "login.toml"
    profile.write_text(LOGIN_PROFILE, encoding="utf-8")
    fake = FakeIGate(make_igate_dossiers(20))
    base = fake.install(httpserver)
    src = RestSource(RestSourceOptions.model_validate({
        "adapter": "rest", "profile": str(profile), "base_url": base, "username": "officer",
        "password": "igate-Pa55", "http": FAST}), context())
    caplog.set_level(logging.DEBUG)
    records = []
    for index, page in enumerate(src.pages(None)):
        records.extend(page.records)
        if index == 0:
            fake.expire_tokens()
    assert len({r.key for r in records}) == 20 and fake.logins == 2
    log = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug"))
    assert "igate-Pa55" not in log and "issued-1-tok" not in log


def test_faults_then_rerun_from_cursor(httpserver):
    from werkzeug import Response

    fake = FakeIGate(make_igate_dossiers(120))
    base = fake.install(httpserver)
    calls = {"n": 0}
    original = fake.search

    def flaky(request):
        calls["n"] += 1
        if calls["n"] == 2:
            return Response('{"content": [{"id": "66a', 200, content_type="application/json")
        if calls["n"] >= 4:
            return Response("gateway", 504)
        return original(request)

    httpserver.clear()
    httpserver.expect_request("/pa/dossier/search").respond_with_handler(flaky)
    src = igate(base)
    got, cursor = [], None
    with pytest.raises(HttpUnavailable):
        for page in src.pages(None):
            got.extend(page.records)
            cursor = page.cursor
    httpserver.clear()
    fake.install(httpserver)
    rest, _ = pull(igate(base), cursor)
    keys = [r.key for r in got + rest]
    assert sorted(set(keys)) == sorted(d["id"] for d in fake.dossiers) and len(keys) == len(set(keys))


def test_bad_record_names_every_problem(httpserver):
    fake = FakeIGate(make_igate_dossiers(1))
    src = igate(fake.install(httpserver))
    record = pull(src)[0][0]
    record.data["dossierStatus"]["id"] = 99
    record.data["acceptedDate"] = "yesterday"
    with pytest.raises(RecordError) as info:
        src.map(record)
    assert any("99" in e for e in info.value.errors) and any("acceptedDate" in e for e in info.value.errors)


def test_unmapped_codes_for_igate(httpserver):
    fake = FakeIGate(make_igate_dossiers(10))
    fake.dossiers[3]["dossierStatus"]["id"] = 42
    found = unmapped_codes(igate(fake.install(httpserver)), sample_size=10)
    assert found[("status", "42")] == 1
    assert ("step", "1.001612:tham_dinh") in found


def test_profile_errors_name_the_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(LOGIN_PROFILE.replace('style = "offset"', 'style = "cursor"'), encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        load_profile(bad)
    assert "paging.style" in str(info.value)
    bad.write_text(LOGIN_PROFILE.replace('"9" = 10', '"9" = 11'), encoding="utf-8")
    with pytest.raises(ProfileError, match="outside the national codes"):
        load_profile(bad)


def test_check_reports_unconfirmed_profile(httpserver):
    fake = FakeIGate(make_igate_dossiers(3))
    result = igate(fake.install(httpserver)).check()
    assert result.ok and result.details["authenticated"] and result.details["profile_confirmed"] is False
    bad = igate(fake.install(httpserver), token="nope-token").check()
    assert not bad.ok and bad.details["reachable"] and not bad.details["authenticated"]


SIMPLE_PROFILE = """
[profile]
name = "simple"
[auth]
type = "bearer"
[records]
path = "items"
items = "items"
[paging]
style = "{style}"
size = 2
next_path = "next"
""" + FLAT_RECORD


def simple_source(tmp_path, base: str, style: str) -> RestSource:
    profile = tmp_path / "simple.toml"
    profile.write_text(SIMPLE_PROFILE.replace("{style}", style), encoding="utf-8")
    options = {"adapter": "rest", "profile": str(profile), "base_url": base, "token": "s3cr3t-token-value",
               "http": FAST}
    return RestSource(RestSourceOptions.model_validate(options), context())


def rows(*ids):
    return [{"id": i, "code": f"D-{i}", "procedure": "1.001612", "received": "2025-07-01T08:00:00+07:00",
             "status": 4} for i in ids]


def test_next_link_to_another_server_is_refused_and_gets_no_token(httpserver, tmp_path):
    from pytest_httpserver import HTTPServer

    other = HTTPServer()
    other.start()
    try:
        other.expect_request("/steal").respond_with_json({"items": []})
        httpserver.expect_request("/items").respond_with_json({"items": rows(1, 2), "next": other.url_for("/steal")})
        src = simple_source(tmp_path, httpserver.url_for("/"), "next_link")
        with pytest.raises(MalformedResponse, match="another server"):
            list(src.pages(None))
        assert not other.log  # the other server never saw a request, let alone the token
    finally:
        other.clear()
        other.stop()


def test_a_server_that_ignores_the_page_parameter_stops_the_pull(httpserver, tmp_path):
    httpserver.expect_request("/items").respond_with_json({"items": rows(1, 2)})
    src = simple_source(tmp_path, httpserver.url_for("/"), "page")
    with pytest.raises(RepeatedPage, match="page 2 repeats page 1"):
        list(src.pages(None))
