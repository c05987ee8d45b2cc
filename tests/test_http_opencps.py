"""The `opencps` source against the fake OpenCPS server."""

from __future__ import annotations

import logging
import tomllib
from datetime import date, timedelta

import orjson
import pytest

from isobridge.adapters.opencps import OpenCPSOptions, OpenCPSSource, draft_procedures
from isobridge.adapters.opencps.mapping import MappingError, load_mapping
from isobridge.core.adapters import AdapterContext
from isobridge.core.caselog import RecordError, parse_case
from isobridge.core.http import AuthenticationError, HttpUnavailable
from isobridge.core.models import Dossier, Procedure
from isobridge.core.privacy import Pseudonymizer
from fakes.opencps import FakeOpenCPS, make_dossiers

from isobridge.adapters.rest.check import unmapped_codes

FIRST = date(2024, 3, 1)
TODAY = date(2024, 3, 20)
FAST = {"backoff_seconds": 0.001, "backoff_max_seconds": 0.01, "rate_limit": 0, "max_attempts": 4,
        "read_timeout": 0.5}


@pytest.fixture
def fake():
    return FakeOpenCPS(make_dossiers(45, FIRST))


def source(fake, base, today=TODAY, **overrides) -> OpenCPSSource:
    options = OpenCPSOptions.model_validate({
        "adapter": "opencps", "base_url": base, "username": fake.username, "password": fake.password,
        "group_id": fake.group_id, "since": FIRST.isoformat(), "page_size": 10,
        "http": {**FAST, **overrides.pop("http", {})}, **overrides,
    })
    context = AdapterContext("opencps-test", Pseudonymizer("test-key"))
    return OpenCPSSource(options, context, today=lambda: today)


def pull(src, cursor=None, stop_after=None):
    """Records and the last cursor, as the host would commit them page by page."""
    records, pages = [], 0
    for page in src.pages(cursor):
        records.extend(page.records)
        cursor = page.cursor
        pages += 1
        if stop_after and pages >= stop_after:
            break
    return records, cursor


def fragments(src, records):
    merged = {}
    for record in records:
        for fragment in src.map(record):
            merged[fragment["dossier"]] = fragment
    return merged


def test_full_pull_maps_every_dossier_to_valid_case_logs(fake, httpserver):
    src = source(fake, fake.install(httpserver))
    records, cursor = pull(src)
    assert len({r.key for r in records}) == 45
    merged = fragments(src, records)
    assert len(merged) == 45
    for fragment in merged.values():
        Dossier.model_validate(fragment)
        parse_case(fragment)
        assert fragment["received_at"].endswith("+07:00")
    assert orjson.loads(cursor) == {"done": TODAY.isoformat()}


def test_event_kinds_from_statuses(fake, httpserver):
    src = source(fake, fake.install(httpserver))
    merged = fragments(src, pull(src)[0])
    supplement = merged[fake.dossiers[40001].no]
    kinds = [e["kind"] for e in supplement["events"]]
    assert kinds[:3] == ["received", "handover", "supplement_requested"]
    assert "supplement_received" in kinds
    paying = [e for e in merged[fake.dossiers[40002].no]["events"] if e["kind"] in ("paused", "resumed")]
    assert [e["kind"] for e in paying] == ["paused", "resumed"] and paying[0]["reason"] == "payment"
    rolled = [e["kind"] for e in merged[fake.dossiers[40003].no]["events"]]
    assert "sent_back" in rolled
    done = merged[fake.dossiers[40000].no]
    assert done["status"] == 10 and done["events"][-1]["kind"] == "returned"
    steps = [e.get("step") for e in done["events"] if e["kind"] in ("received", "handover")]
    assert steps == ["TN", "TD", "PD", "TKQ"]
    assert merged[fake.dossiers[40004].no]["status"] == 3


def test_personal_data_only_as_pseudonyms(fake, httpserver):
    src = source(fake, fake.install(httpserver))
    records, _ = pull(src)
    text = " ".join(r.payload for r in records) + orjson.dumps(fragments(src, records)).decode()
    assert "NGUYỄN VĂN" not in text and "0912345678" not in text and "001087000001" not in text
    assert src.context.pseudonym("001087000001") in text


def test_unchanged_dossiers_map_identically_across_runs(fake, httpserver):
    src = source(fake, fake.install(httpserver))
    first = fragments(src, pull(src)[0])
    second = fragments(src, pull(src, orjson.dumps({"done": TODAY.isoformat()}).decode())[0])
    assert all(first[key] == second[key] for key in second)


def test_incremental_window_uses_checkpoint_with_overlap(fake, httpserver):
    src = source(fake, fake.install(httpserver), overlap_days=2)
    fake.requests.clear()
    cursor = orjson.dumps({"done": "2024-03-18"}).decode()
    list(src.pages(cursor))
    assert any("dossiers" in r for r in fake.requests)
    # statistic window 16/03 – 20/03 only lists dossiers open then: fewer than all
    records, _ = pull(src, cursor)
    assert 0 < len(records) < 45


def test_faults_then_rerun_loses_and_duplicates_nothing(fake, httpserver):
    base = fake.install(httpserver)
    expected = fragments(source(fake, base), pull(source(fake, base))[0])
    fake.fail("/dossiers/40012/sequences", times=10, status=503)  # outlasts the retries
    src = source(fake, base)
    committed, cursor = [], None
    with pytest.raises(HttpUnavailable):
        for page in src.pages(None):
            committed.extend(page.records)
            cursor = page.cursor
    assert cursor is not None
    fake.faults.clear()
    rest, _ = pull(source(fake, base), cursor)
    merged = fragments(src, committed + rest)
    assert merged == expected
    keys = [r.key for r in rest]
    assert len(keys) == len(set(keys))


def test_5xx_burst_429_timeouts_truncated_bodies_are_absorbed(fake, httpserver):
    base = fake.install(httpserver)
    expected = fragments(source(fake, base), pull(source(fake, base))[0])
    fake.fail("/dossiers/40003", times=2, status=502)
    fake.fail("/dossiers/40007/sequences", times=1, status=429, headers={"Retry-After": "0"})
    fake.fail("/dossiers/40009", times=1, status=200, body=b'{"dossierId": 40009, "dossierNo": "0')
    fake.fail("/dossiers/40011", times=1, status=200, body=b"<html>Service Unavailable</html>")
    fake.fail("/dossiers/40013", times=1, status=200, body=b"{}", delay=0.8)
    src = source(fake, base)
    assert fragments(src, pull(src)[0]) == expected


def test_dossier_changed_while_paged(fake, httpserver):
    base = fake.install(httpserver)
    changed = fake.dossiers[40003]  # open: still listed by later windows

    def mutate(start):
        if start >= 10 and changed.step != "210":
            changed.act("2100", "210", changed.actions[-1]["at"] + timedelta(hours=1))

    fake.on_list = mutate
    src = source(fake, base)
    records, cursor = pull(src)
    assert len({r.key for r in records}) == 45
    rerun = fragments(src, pull(src, cursor)[0])
    assert rerun[changed.no]["status"] == 5  # the change is picked up by the overlapping rerun


def test_new_dossier_shifting_pages_is_not_skipped(httpserver):
    dossiers = make_dossiers(30, FIRST)
    fake = FakeOpenCPS(dossiers)
    base = fake.install(httpserver)
    early = make_dossiers(1, FIRST - timedelta(days=1), seed=3)[0]
    early.id, early.no = 49999, "000.00.12.H40-240229-9999"

    def insert(start):
        if start >= 10 and early.id not in fake.dossiers:
            fake.dossiers[early.id] = early  # sorts first: every later item shifts by one

    fake.on_list = insert
    records, _ = pull(source(fake, base))
    assert {str(d.id) for d in dossiers} <= {r.key for r in records}


def test_http_203_is_an_authentication_error_without_secrets(fake, httpserver, caplog):
    base = fake.install(httpserver)
    caplog.set_level(logging.DEBUG)
    src = source(fake, base)
    src.options.password.get_secret_value()
    wrong = OpenCPSOptions.model_validate({**src.options.model_dump(), "password": "WrongSecret-42",
                                          "http": FAST})
    bad = OpenCPSSource(wrong, src.context, today=lambda: TODAY)
    with pytest.raises(AuthenticationError) as info:
        list(bad.pages(None))
    assert "203" in str(info.value)
    for text in (str(info.value), caplog.text, repr(bad.http), repr(wrong)):
        assert "WrongSecret-42" not in text
    result = bad.check()
    assert not result.ok and result.details["reachable"] and not result.details["authenticated"]


def test_check_reports_reachable_authenticated_and_skew(fake, httpserver):
    result = source(fake, fake.install(httpserver)).check()
    assert result.ok
    assert result.details["authenticated"] and result.details["permissions"]
    assert abs(result.details["clock_skew_seconds"]) < 5


def test_unknown_status_is_quarantined_with_reason(fake, httpserver):
    src = source(fake, fake.install(httpserver))
    record = pull(src)[0][0]
    record.data["dossier"]["dossierStatus"], record.data["dossier"]["dossierSubStatus"] = "archived", ""
    record.data["dossier"]["receiveDate"] = "2024-03-01"
    with pytest.raises(RecordError) as info:
        src.map(record)
    assert any("archived" in e for e in info.value.errors)
    assert any("receiveDate" in e for e in info.value.errors)


def test_unmapped_codes_lists_vendor_codes(fake, httpserver, tmp_path):
    mapping = tmp_path / "m.toml"
    text = load_mapping().model_dump()
    text["steps"].pop("300")
    text["steps"].pop("310")
    text["procedures"] = {}
    mapping.write_text("\n".join(_toml(text)), encoding="utf-8")
    src = source(fake, fake.install(httpserver), mapping=str(mapping))
    found = unmapped_codes(src, sample_size=20)
    assert ("step", "1.004227:300") in found  # a hand-over step with no ISO code
    assert ("step", "1.004227:310") in found  # a releasing step reaches no ISO step either
    assert ("step", "1.004227:210") in found and ("action", "1.004227:2100") in found  # waiting
    assert ("step", "1.004227:400") not in found  # no_iso_step: deliberately none
    assert all(count > 0 for count in found.values())


def test_mapping_errors_name_the_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[status.new]\ncode = 12\nkind = "received"\n', encoding="utf-8")
    with pytest.raises(MappingError) as info:
        load_mapping(bad)
    assert "status.new.code" in str(info.value)


def test_draft_procedures_from_service_processes(fake, httpserver):
    drafts = draft_procedures(source(fake, fake.install(httpserver)))
    assert len(drafts) == 1
    data = tomllib.loads(drafts[0])
    procedure = Procedure.model_validate(data)
    assert [s.code for s in procedure.steps] == ["110", "200", "300", "310"]
    assert procedure.steps[1].unit == "Phòng QLĐT" and procedure.limit.value == 15


def _toml(data: dict, prefix: str = "") -> list[str]:
    """Tiny TOML writer for the mapping dicts of these tests."""
    lines, tables = [], []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        elif value is not None:
            lines.append(f'"{key}" = {orjson.dumps(value).decode()}')
    for key, value in tables:
        name = f'{prefix}."{key}"' if prefix else f'"{key}"'
        lines += [f"[{name}]", *_toml(value, name)]
    return lines
