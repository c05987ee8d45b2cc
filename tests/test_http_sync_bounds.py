"""A hostile HTTP endpoint cannot hold a sync: the run stops within its limits, keeps its checkpoint
and releases its lock (the next run starts, and delivers once the endpoint behaves)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from werkzeug import Response

from isobridge.core import samples
from isobridge.core.cli import main
from isobridge.core.ledger import Ledger
from isobridge.testing import hostile_response


@pytest.fixture
def stop():
    event = threading.Event()
    yield event
    event.set()


def deployment(tmp_path: Path, url: str, http: str) -> str:
    (tmp_path / "in").mkdir()
    (tmp_path / "in/a.jsonl").write_bytes(b"".join(samples.CASES.read_bytes().splitlines(keepends=True)[:4]))
    (tmp_path / "conf.toml").write_text(
        '[ledger]\npath = "ledger.db"\n'
        '[sources.onestop]\nadapter = "caselog"\nfolder = "in"\nsettle_seconds = 0\n'
        f'[sinks.qms]\nadapter = "rest"\nurl = "{url}"\nhttp = {{ {http} }}\n', encoding="utf-8")
    return str(tmp_path / "conf.toml")


def accept_all(request):
    items = request.get_json()["items"]
    results = [{"key": item["idempotency_key"], "status": "accepted"} for item in items]
    return Response(json.dumps({"results": results}), 200, content_type="application/json")


@pytest.mark.parametrize("limits, bound", [
    ("total_timeout = 1, max_attempts = 2, backoff_seconds = 0, rate_limit = 0", 15),
    ("total_timeout = 60, max_run_seconds = 1, max_attempts = 5, backoff_seconds = 0, rate_limit = 0", 10),
], ids=["per-request", "per-run"])
def test_trickling_endpoint_stops_the_run_which_keeps_its_checkpoint_and_releases_its_lock(
        tmp_path, httpserver, stop, limits, bound):
    httpserver.expect_oneshot_request("/qms/evidence", method="POST").respond_with_handler(
        lambda request: hostile_response("trickle", stop, interval=0.2))
    httpserver.expect_oneshot_request("/qms/evidence", method="POST").respond_with_handler(
        lambda request: hostile_response("trickle", stop, interval=0.2))
    httpserver.expect_request("/qms/evidence", method="POST").respond_with_handler(accept_all)
    config = deployment(tmp_path, httpserver.url_for("/qms/evidence"), limits)
    started = time.monotonic()
    assert main(["sync", "--config", config]) == 1
    assert time.monotonic() - started < bound
    ledger = Ledger(tmp_path / "ledger.db")
    assert ledger.checkpoint("onestop") is None and ledger.backlog() > 0
    stop.set()
    httpserver.clear_all_handlers()
    httpserver.expect_request("/qms/evidence", method="POST").respond_with_handler(accept_all)
    assert main(["sync", "--config", config]) == 0  # not 4: the lock was released
    assert ledger.backlog() == 0 and ledger.checkpoint("onestop") is not None
