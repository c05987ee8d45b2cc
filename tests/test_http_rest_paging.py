"""REST paging that never ends (a server ignoring the paging parameters, pages cycling A, B, A, B)
stops with a clear error and keeps the checkpoint."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import orjson
import pytest
from werkzeug import Response

from isobridge.adapters.rest import RestSource, RestSourceOptions
from isobridge.core.adapters import AdapterContext
from isobridge.core.cli import main
from isobridge.core.ledger import Ledger
from isobridge.core.paging import RepeatedPage
from isobridge.core.privacy import Pseudonymizer
from rest_support import FLAT_RECORD

PROFILE = """
[profile]
name = "paged"
[records]
path = "items"
items = "items"
[paging]
style = "{style}"
size = 2
[incremental]
param = "changed-from"
field = "updated"
overlap_seconds = 0
""" + FLAT_RECORD


def rows(*ids: int) -> list[dict]:
    return [{"id": f"r{i}", "code": f"D-{i}", "procedure": "1.001612", "received": "2026-03-02T09:30:00+07:00",
             "updated": f"2026-03-02T1{i % 10}:00:00+07:00", "status": 4} for i in ids]


def source(tmp_path: Path, base: str, style: str) -> RestSource:
    path = tmp_path / "paged.toml"
    path.write_text(PROFILE.replace("{style}", style), encoding="utf-8")
    options = {"adapter": "rest", "profile": str(path), "base_url": base,
               "http": {"max_attempts": 2, "backoff_seconds": 0.001, "rate_limit": 0}}
    return RestSource(RestSourceOptions.model_validate(options), AdapterContext("vendor", Pseudonymizer("k")))


def cycling(request) -> Response:
    """Pages A, B, A, B… whatever the page number; never a last page."""
    page = int(request.args.get("page", 0))
    body = {"items": rows(1, 2) if page % 2 == 0 else rows(3, 4)}
    return Response(json.dumps(body), content_type="application/json")


def test_pages_cycling_a_b_a_b_stop_with_a_clear_error(httpserver, tmp_path) -> None:
    httpserver.expect_request("/items").respond_with_handler(cycling)
    pages = source(tmp_path, httpserver.url_for("/"), "page").pages(None)
    seen = []
    with pytest.raises(RepeatedPage, match="page 3 repeats page 1"):
        for page in itertools.islice(pages, 10):  # the old loop never ended
            seen.append(page)
    assert len(seen) == 2


def test_a_server_ignoring_start_and_end_stops(httpserver, tmp_path) -> None:
    httpserver.expect_request("/items").respond_with_json({"items": rows(1, 2)})
    pages = source(tmp_path, httpserver.url_for("/"), "start_end").pages(None)
    with pytest.raises(RepeatedPage, match="repeats"):
        list(itertools.islice(pages, 10))


def test_a_listing_longer_than_max_pages_stops(httpserver, tmp_path) -> None:
    def endless(request) -> Response:
        page = int(request.args.get("page", 0))
        return Response(json.dumps({"items": rows(2 * page + 1, 2 * page + 2)}), content_type="application/json")

    httpserver.expect_request("/items").respond_with_handler(endless)
    path = tmp_path / "paged.toml"
    src = source(tmp_path, httpserver.url_for("/"), "page")
    path.write_text(PROFILE.replace("{style}", "page").replace("size = 2", "size = 2\nmax_pages = 5"), encoding="utf-8")
    src = RestSource(src.options, src.context)
    with pytest.raises(RepeatedPage, match="more than 5 pages"):
        list(itertools.islice(src.pages(None), 50))


def test_sync_stops_on_cycling_pages_and_keeps_the_checkpoint(httpserver, tmp_path, capsys) -> None:
    (tmp_path / "paged.toml").write_text(PROFILE.replace("{style}", "page"), encoding="utf-8")
    (tmp_path / "conf.toml").write_text(
        f'[ledger]\npath = "ledger.db"\n'
        f'[sources.vendor]\nadapter = "rest"\nprofile = "{tmp_path / "paged.toml"}"\n'
        f'base_url = "{httpserver.url_for("/")}"\nhttp = {{ max_attempts = 2, backoff_seconds = 0.001 }}\n'
        f'[sinks.evidence]\nadapter = "jsonl"\npath = "{tmp_path / "evidence.jsonl"}"\n', encoding="utf-8")
    httpserver.expect_request("/items").respond_with_json({"items": rows(1)})
    assert main(["sync", "--config", str(tmp_path / "conf.toml")]) == 0, capsys.readouterr().err
    before = Ledger(tmp_path / "ledger.db").checkpoint("vendor")
    assert orjson.loads(before)["since"].startswith("2026-03-02T11:00")
    httpserver.clear()
    httpserver.expect_request("/items").respond_with_handler(cycling)
    assert main(["sync", "--config", str(tmp_path / "conf.toml")]) == 1
    err = capsys.readouterr().err
    assert "RepeatedPage" in err and "repeats page 1" in err and "Traceback" not in err
    after = Ledger(tmp_path / "ledger.db").checkpoint("vendor")
    assert orjson.loads(after)["since"] == orjson.loads(before)["since"]
