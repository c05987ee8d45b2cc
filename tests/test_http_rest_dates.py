"""REST profile dates: the profile's formats come first, absurd dates are quarantined, never a checkpoint."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from isobridge.adapters.rest import RestSource, RestSourceOptions
from isobridge.core.adapters import AdapterContext
from isobridge.core.caselog import RecordError, parse_case
from isobridge.core.cli import main
from isobridge.core.privacy import Pseudonymizer
from rest_support import FLAT_RECORD

FAST = {"backoff_seconds": 0.001, "backoff_max_seconds": 0.01, "rate_limit": 0, "max_attempts": 2}
COMPACT_PROFILE = """
date_formats = ["%Y%m%d%H%M%S"]
timezone = "+07:00"
[profile]
name = "compact dates"
[auth]
type = "bearer"
[records]
path = "items"
items = "items"
[paging]
style = "none"
[incremental]
param = "changed-from"
field = "updated"
format = "%Y%m%d%H%M%S"
overlap_seconds = 0
""" + FLAT_RECORD


def source(tmp_path: Path, base: str, profile: str = COMPACT_PROFILE) -> RestSource:
    path = tmp_path / "profile.toml"
    path.write_text(profile, encoding="utf-8")
    options = {"adapter": "rest", "profile": str(path), "base_url": base, "token": "t0ken-value-xyz", "http": FAST}
    return RestSource(RestSourceOptions.model_validate(options), AdapterContext("vendor", Pseudonymizer("k")))


def row(index: int, received: object, updated: object) -> dict:
    return {"id": f"r{index}", "code": f"D-{index}", "procedure": "1.001612", "received": received,
            "updated": updated, "status": 4}


def pull(src: RestSource) -> tuple[list, str | None]:
    records, cursor = [], None
    for page in src.pages(None):
        records.extend(page.records)
        cursor = page.cursor
    return records, cursor


def test_digits_only_dates_are_read_with_the_profile_format(httpserver, tmp_path) -> None:
    httpserver.expect_request("/items").respond_with_json(
        {"items": [row(1, "20260302093000", "20260302101500"), row(2, 20260301080000, "20260301090000")]})
    src = source(tmp_path, httpserver.url_for("/"))
    records, cursor = pull(src)
    fragment = src.map(records[0])[0]
    parse_case(fragment)
    assert fragment["received_at"] == "2026-03-02T09:30:00+07:00"
    assert src.map(records[1])[0]["received_at"] == "2026-03-01T08:00:00+07:00"  # a JSON number too
    assert orjson.loads(cursor)["since"] == "20260302101500"  # the checkpoint stays in 2026, not 2612


def test_a_far_future_date_is_quarantined_and_never_the_checkpoint(httpserver, tmp_path) -> None:
    """With an 'iso'-only profile, 20260302093000 falls back to epoch milliseconds: year 2612."""
    profile = COMPACT_PROFILE.replace('date_formats = ["%Y%m%d%H%M%S"]', 'date_formats = ["iso"]').replace(
        'format = "%Y%m%d%H%M%S"', 'format = "iso"')
    good = row(1, "2026-03-02T09:30:00+07:00", "2026-03-02T10:00:00+07:00")
    soon = (datetime.now(timezone.utc) + timedelta(days=40)).isoformat()
    httpserver.expect_request("/items").respond_with_json(
        {"items": [good, row(2, "20260302093000", "20260302093000"), row(3, "1999-12-31T08:00:00+07:00", soon)]})
    src = source(tmp_path, httpserver.url_for("/"), profile)
    records, cursor = pull(src)
    assert datetime.fromisoformat(orjson.loads(cursor)["since"]) == datetime.fromisoformat(good["updated"])
    assert src.map(records[0])[0]["received_at"] == "2026-03-02T09:30:00+07:00"
    with pytest.raises(RecordError) as far:
        src.map(records[1])
    assert any("record r2: received" in e and "2612" in e and "future" in e for e in far.value.errors)
    with pytest.raises(RecordError) as odd:
        src.map(records[2])
    assert any("received" in e and "before 2000" in e for e in odd.value.errors)
    assert any("updated" in e and "future" in e for e in odd.value.errors)


def test_a_due_date_weeks_ahead_is_fine(httpserver, tmp_path) -> None:
    profile = COMPACT_PROFILE.replace('status = "status"', 'status = "status"\ndue_at = "due"')
    ahead = (datetime.now(timezone.utc) + timedelta(days=60)).astimezone(timezone(timedelta(hours=7)))
    item = {**row(1, "20260302093000", "20260302093000"), "due": ahead.strftime("%Y%m%d%H%M%S")}
    httpserver.expect_request("/items").respond_with_json({"items": [item]})
    src = source(tmp_path, httpserver.url_for("/"), profile)
    records, _ = pull(src)
    assert src.map(records[0])[0]["due_at"].startswith(ahead.strftime("%Y-%m-%d"))


ABSURD = [1e300, "99999999999999999999999", -5, {"at": 1}, "0001-01-01T00:00:00"]


@pytest.mark.parametrize("absurd", ABSURD, ids=["huge-float", "huge-digits", "negative", "object", "year-1"])
def test_an_absurd_change_value_is_quarantined_and_the_pull_goes_on(httpserver, tmp_path, absurd) -> None:
    profile = COMPACT_PROFILE.replace('date_formats = ["%Y%m%d%H%M%S"]', 'date_formats = ["iso"]').replace(
        'format = "%Y%m%d%H%M%S"', 'format = "iso"')
    httpserver.expect_request("/items").respond_with_json({"items": [
        row(1, "2026-03-02T09:30:00+07:00", "2026-03-02T10:00:00+07:00"),
        row(2, "2026-03-02T09:30:00+07:00", absurd)]})
    src = source(tmp_path, httpserver.url_for("/"), profile)
    records, cursor = pull(src)
    assert len(records) == 2
    assert datetime.fromisoformat(orjson.loads(cursor)["since"]).year == 2026
    src.map(records[0])
    with pytest.raises(RecordError, match="record r2: updated"):
        src.map(records[1])


def test_sync_quarantines_the_absurd_record_and_delivers_the_rest(httpserver, tmp_path, monkeypatch, capsys) -> None:
    """The whole source used to fail every run (exit 1, no evidence) for one absurd change value."""
    profile = COMPACT_PROFILE.replace('date_formats = ["%Y%m%d%H%M%S"]', 'date_formats = ["iso"]').replace(
        'format = "%Y%m%d%H%M%S"', 'format = "iso"')
    (tmp_path / "vendor.toml").write_text(profile, encoding="utf-8")
    httpserver.expect_request("/items").respond_with_json({"items": [
        row(1, "2026-03-02T09:30:00+07:00", "2026-03-02T10:00:00+07:00"),
        row(2, "2026-03-02T09:30:00+07:00", "99999999999999999999999")]})
    (tmp_path / "conf.toml").write_text(
        f'[ledger]\npath = "ledger.db"\n'
        f'[sources.vendor]\nadapter = "rest"\nprofile = "{tmp_path / "vendor.toml"}"\n'
        f'base_url = "{httpserver.url_for("/")}"\nhttp = {{ max_attempts = 2, backoff_seconds = 0.001 }}\n'
        f'[sinks.evidence]\nadapter = "jsonl"\npath = "{tmp_path / "evidence.jsonl"}"\n', encoding="utf-8")
    monkeypatch.setenv("ISOBRIDGE_SOURCES__VENDOR__TOKEN", "t0ken-value-xyz")
    status = main(["sync", "--config", str(tmp_path / "conf.toml")])
    err = capsys.readouterr().err
    assert status == 3, err  # 3: done, with quarantined records
    lines = (tmp_path / "evidence.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["dossier"] for line in lines] == ["D-1"]
    assert main(["quarantine", "list", "--config", str(tmp_path / "conf.toml")]) == 0
    listing = capsys.readouterr().out
    assert "r2" in listing and "updated" in listing


def test_a_checkpoint_misread_into_the_future_is_read_again_from_since(httpserver, tmp_path, caplog) -> None:
    """A deployment upgraded from the digits-as-epoch bug has since=2612…: every later change was skipped."""
    profile = COMPACT_PROFILE.replace('overlap_seconds = 0', 'overlap_seconds = 60')
    httpserver.expect_request("/items").respond_with_json({"items": [row(1, "20260302093000", "20260302101500")]})
    src = source(tmp_path, httpserver.url_for("/"), profile)
    src.options = src.options.model_copy(update={"since": "20260101000000"})
    cursor = orjson.dumps({"since": "26120110124133", "page": 0, "latest": None}).decode()
    records = [record for page in src.pages(cursor) for record in page.records]
    assert [r.key for r in records] == ["r1"]
    (request, _), = httpserver.log
    assert request.args["changed-from"] == "20260101000000"
    assert any("checkpoint since='26120110124133'" in r.getMessage() and "future" in r.getMessage()
               for r in caplog.records)
