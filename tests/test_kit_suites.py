"""The kit itself: a clean toy adapter passes the suites, each planted flaw is caught, recordings scrub."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
from pydantic import SecretStr

from isobridge.core.adapters import AdapterOptions, CheckResult, EvidenceItem, Page, RawRecord, Sink, Source, WriteResult
from isobridge.core.caselog import RecordError
from isobridge.testing import Recording, SinkContract, SourceContract, record, run_sync

STORES: dict[str, list[dict]] = {}
DELIVERED: dict[str, list[str]] = {}
FAILED = (AssertionError, pytest.fail.Exception)


class ToyOptions(AdapterOptions):
    store: str
    page_size: int = 2
    token: SecretStr = SecretStr("none")
    flaw: str = ""


class ToySource(Source):
    """Items of an in-memory store; `flaw` plants one contract violation."""

    name = "kit-toy"
    Options = ToyOptions

    def check(self) -> CheckResult:
        ok = self.options.store in STORES
        return CheckResult(ok, "ok" if ok else f"no store {self.options.store!r}")

    def pages(self, cursor: str | None) -> Iterator[Page]:
        items, size, flaw = STORES[self.options.store], self.options.page_size, self.options.flaw
        if flaw == "log-secret":
            self.context.log.info("using token %s", self.options.token.get_secret_value())
        start = int(cursor or 0)
        while flaw == "same-cursor":
            yield Page([RawRecord("k0", "{}", items[0])], "0")
        for index in range(start, len(items), size):
            chunk = [(n, item) for n, item in enumerate(items[index:index + size], index)
                     if not (flaw == "drop-malformed" and "bad" in item)]
            after = index + size + (1 if flaw == "skip-boundary" else 0)
            yield Page([RawRecord(f"item:{n}", json.dumps(item, ensure_ascii=False), item) for n, item in chunk], str(after))

    def map(self, record: RawRecord) -> list[dict]:
        item = record.data
        if "bad" in item:
            if self.options.flaw == "valueerror":
                raise ValueError("bad item")
            raise RecordError([f"{record.key}: {item['bad']}"])
        applicant = item.get("name")
        if self.options.flaw != "clear-personal":
            applicant = self.context.pseudonym(applicant)
        return [{"dossier": item["code"], "applicant": applicant,
                 "events": [{"at": "2025-07-01T08:00:00+07:00", "kind": "received",
                             "actor": self.context.pseudonym(item.get("officer"))}]}]


class TestToySource(SourceContract):
    adapter = ToySource
    flaw = ""

    @pytest.fixture
    def options(self, request, secret):
        STORES[request.node.nodeid] = [{"code": f"D-{n}", "name": "Ai Đó", "officer": "Cán Bộ"} for n in range(7)]
        return {"store": request.node.nodeid, "token": secret, "flaw": self.flaw}

    @pytest.fixture
    def bad_options(self, options):
        return {**options, "store": "missing"}

    @pytest.fixture
    def plant_malformed(self, options):
        def plant():
            STORES[options["store"]].insert(3, {"code": "D-x", "bad": "no time"})
            return 1
        return plant

    @pytest.fixture
    def plant_personal(self, options):
        def plant(values):
            STORES[options["store"]].append({"code": "D-p", "name": values["applicant_name"], "officer": values["officer"]})
        return plant


FLAWS = {
    "skip-boundary": ["test_resume_page_by_page_loses_and_repeats_nothing"],
    "same-cursor": ["test_paging_terminates_and_cursor_advances", "test_resume_page_by_page_loses_and_repeats_nothing"],
    "drop-malformed": ["test_malformed_records_are_quarantined_not_dropped"],
    "valueerror": ["test_malformed_records_are_quarantined_not_dropped"],
    "log-secret": ["test_secrets_never_in_logs_or_errors"],
    "clear-personal": ["test_personal_data_pseudonymised_before_leaving"],
}


@pytest.mark.parametrize(("flaw", "test"), [(f, t) for f, tests in FLAWS.items() for t in tests])
def test_each_planted_source_flaw_fails_its_check(flaw, test, request):
    suite = TestToySource()
    suite.page_cap = 50
    STORES[flaw] = [{"code": f"D-{n}", "name": "Ai Đó", "officer": "Cán Bộ"} for n in range(7)]
    options = {"store": flaw, "token": "kit-secret-planted", "flaw": flaw}

    def plant_malformed():
        STORES[flaw].insert(3, {"code": "D-x", "bad": "no time"})
        return 1

    def plant_personal(values):
        STORES[flaw].append({"code": "D-p", "name": values["applicant_name"], "officer": values["officer"]})

    fixtures = {"options": options, "bad_options": {**options, "store": "missing"}, "secret": "kit-secret-planted",
                "plant_malformed": plant_malformed, "plant_personal": plant_personal}
    method = getattr(suite, test)
    names = method.__code__.co_varnames[1:method.__code__.co_argcount]
    with pytest.raises(FAILED):
        method(**{name: fixtures[name] for name in names})


class ToySink(Sink):
    """Keeps keys in memory; `flaw` plants one contract violation."""

    name = "kit-toy-sink"
    Options = ToyOptions

    def write(self, batch: list[EvidenceItem]) -> WriteResult:
        store, flaw = DELIVERED.setdefault(self.options.store, []), self.options.flaw
        result = WriteResult()
        for item in batch:
            if "verdict" not in item.evidence:
                result.rejected[item.key] = "no verdict"
                continue
            if flaw == "duplicates" or item.key not in store:
                store.append(item.key)
            if flaw != "forgets-ack":
                result.accepted.append(item.key)
        return result


class TestToySink(SinkContract):
    adapter = ToySink
    flaw = ""

    @pytest.fixture
    def options(self, request):
        DELIVERED[request.node.nodeid] = []
        return {"store": request.node.nodeid, "flaw": self.flaw}

    @pytest.fixture
    def delivered(self, options):
        return lambda: DELIVERED[options["store"]]

    @pytest.fixture
    def rejectable(self):
        return EvidenceItem("D-no-verdict", 1, {"dossier": "D-no-verdict"})


@pytest.mark.parametrize(("flaw", "test"), [("duplicates", "test_replayed_batch_delivered_once"),
                                            ("forgets-ack", "test_batch_acknowledged_item_by_item")])
def test_each_planted_sink_flaw_fails_its_check(flaw, test, tmp_path):
    DELIVERED[flaw] = []
    with pytest.raises(FAILED):
        getattr(TestToySink(), test)({"store": flaw, "flaw": flaw}, lambda: DELIVERED[flaw], tmp_path / "l.db")


def test_run_sync_drives_the_real_host(tmp_path):
    outcome = run_sync(tmp_path, runs=2, sample_cases=25)
    first, second = outcome.reports
    assert first.records == 25 and second.records == 0
    assert len(outcome.evidence) == first.revisions > 0 and outcome.checkpoint


def test_recording_scrubs_and_replays(tmp_path, httpserver):
    from pytest_httpserver import HTTPServer

    live = HTTPServer(host="127.0.0.1", port=0)
    live.expect_request("/api/v1/login").respond_with_json({"access_token": "live-session-abc123"})
    live.expect_request("/api/v1/items").respond_with_json(
        {"items": [{"code": "D-1", "applicant_name": "Nguyễn Thật", "note": "key s3cr3t-value"}]})
    live.start()
    try:
        base = live.url_for("/api/v1")
        with record(base, tmp_path / "rec.json", secrets=["s3cr3t-value"], personal_keys=["applicant_name"]):
            requests.post(f"{base}/login?password=s3cr3t-value", timeout=5)
            first = requests.get(f"{base}/items", params={"page": 1}, timeout=5).json()
    finally:
        live.stop()
    text = (tmp_path / "rec.json").read_text(encoding="utf-8")
    assert "s3cr3t-value" not in text and "live-session-abc123" not in text and "Nguyễn Thật" not in text
    replay = Recording.load(tmp_path / "rec.json").serve(httpserver)
    again = requests.get(f"{replay.rstrip('/')}/items", params={"page": 1}, timeout=5).json()
    assert again["items"][0]["code"] == first["items"][0]["code"] == "D-1"
    assert again["items"][0]["applicant_name"] == "redacted-1"
    assert requests.post(f"{replay.rstrip('/')}/login?password=other", timeout=5).json()["access_token"] == "***"
    assert requests.get(f"{replay.rstrip('/')}/unknown", timeout=5).status_code == 599
