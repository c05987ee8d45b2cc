"""The `opencps` source on payloads shaped like the real OpenCPS v2 (issue 13): verdicts must be true.

Fixtures: tests/fixtures/opencps/*.json (each cites VietOpenCPS/opencps-v2 at commit 242803f4b).
Each is served over HTTP, pulled by the adapter with the bundled mapping and judged by the engine.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import orjson
import pytest

from conftest import at
from isobridge.adapters.opencps import OpenCPSOptions, OpenCPSSource
from isobridge.adapters.opencps.mapping import DEFAULT_MAPPING, MappingError, load_mapping
from isobridge.core.adapters import AdapterContext
from isobridge.core.caselog import RecordError
from isobridge.core.engine import Evaluator
from isobridge.core.models import Procedure
from isobridge.core.privacy import Pseudonymizer
from isobridge.core.procedures import ProcedureBook

FIXTURES = Path(__file__).parent / "fixtures" / "opencps"
FAST = {"backoff_seconds": 0.001, "backoff_max_seconds": 0.01, "rate_limit": 0, "max_attempts": 2,
        "read_timeout": 0.5}
LOGIN, PASSWORD, GROUP = "officer@example.gov.vn", "pw-FAKE-0001", 35417


def procedure(code: str) -> Procedure:
    """TN, TD, PD 4 working hours each, TKQ 1 working day; 3 working days in all."""
    hours = {"value": 4, "unit": "working_hours"}
    return Procedure.model_validate({
        "code": code, "name": "Thủ tục thử", "version": "1", "effective_from": "2024-01-01",
        "limit": {"value": 3, "unit": "working_days"},
        "steps": [{"code": "TN", "name": "Tiếp nhận", "limit": hours},
                  {"code": "TD", "name": "Thẩm định", "limit": hours},
                  {"code": "PD", "name": "Phê duyệt", "limit": hours},
                  {"code": "TKQ", "name": "Trả kết quả", "limit": {"value": 1, "unit": "working_days"}}],
    })


@pytest.fixture
def evaluator(vn_calendar) -> Evaluator:
    book = ProcedureBook.from_procedures([procedure("1.004227"), procedure("1.000002")])
    return Evaluator(book, vn_calendar, at("2025-06-01 00:00"))


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def serve(httpserver, *bodies: dict) -> str:
    """Serve fixture dossiers as OpenCPS would (list, detail, sequences, process steps)."""
    items = [body["item"] for body in bodies]
    httpserver.expect_request("/o/rest/v2/dossiers").respond_with_json({"total": len(items), "data": items})
    for body in bodies:
        dossier = body["item"]["dossierId"]
        httpserver.expect_request(f"/o/rest/v2/dossiers/{dossier}").respond_with_json(body["detail"])
        httpserver.expect_request(f"/o/rest/v2/dossiers/{dossier}/sequences").respond_with_json(body["sequences"])
    httpserver.expect_request("/o/rest/v2/serviceprocesses/3301/steps").respond_with_json(bodies[0]["steps"])
    httpserver.expect_request("/o/rest/v2/serviceprocesses").respond_with_json(bodies[0]["serviceprocesses"])
    return httpserver.url_for("/o/rest/v2")


def source(base: str, **overrides) -> OpenCPSSource:
    options = OpenCPSOptions.model_validate({
        "adapter": "opencps", "base_url": base, "username": LOGIN, "password": PASSWORD, "group_id": GROUP,
        "since": "2025-03-03", "page_size": 10, "http": FAST, **overrides})
    return OpenCPSSource(options, AdapterContext("opencps-real", Pseudonymizer("test-key")),
                         today=lambda: date(2025, 3, 5))


def records(src: OpenCPSSource) -> list:
    return [record for page in src.pages(None) for record in page.records]


def judged(evaluator: Evaluator, src: OpenCPSSource) -> dict:
    """The evidence of the one fixture dossier pulled through the adapter."""
    (record,) = records(src)
    (fragment,) = src.map(record)
    return evaluator.evaluate_record(fragment)


def rows(evidence: dict) -> list[tuple[str, int, bool]]:
    """(step, used minutes, within its limit) of every step row."""
    return [(s["step"], s["used_minutes"], s["verdict"] in ("early", "on_time")) for s in evidence["steps"]]


def test_fixtures_have_the_real_shapes_and_cite_their_source():
    for path in FIXTURES.glob("*.json"):
        body = json.loads(path.read_text(encoding="utf-8"))
        assert body["_source"]["repository"] == "VietOpenCPS/opencps-v2"
        assert len(body["_source"]["commit"]) == 40
        listed = [a for phase in body["sequences"]["data"] for a in phase["actions"]]
        assert all(a["actionCode"] != "9000" for a in listed), "OpenCPS stores no rollback action"
        assert all(a["fromStepCode"] for a in listed), "the first action (empty from-step) is never listed"
        assert set(listed[0]) == {
            "userId", "fromStepCode", "fromStepName", "sequenceNo", "dossierId", "serviceProcessId",
            "previousActionId", "actionCode", "actionName", "actionNote", "actionUser", "actionOverdue",
            "payload", "pending", "rollbackable", "createDate", "modifiedDate", "dueDate", "nextActionId",
            "state", "stepCode", "stepName"}


def test_rollback_is_a_send_back_and_the_rework_is_charged_to_the_step_it_happened_in(httpserver, evaluator):
    src = source(serve(httpserver, fixture("rollback")))
    evidence = judged(evaluator, src)
    # 08:30 to TD, rolled back at 10:00 (modifiedDate of the state-2 action), re-sent at 14:30.
    assert rows(evidence) == [("TN", 30, True), ("TD", 90, True), ("TN", 180, True),
                              ("TD", 90, True), ("PD", 150, True), ("TKQ", 60, True)]
    assert evidence["verdict"] in ("early", "on_time")
    assert not [n for n in evidence["nonconformities"] if n["kind"] in ("late_step", "out_of_order")]
    (fragment,) = src.map(records(src)[0])
    back = [e for e in fragment["events"] if e["kind"] == "sent_back"]
    assert [(e["at"], e["step"]) for e in back] == [("2025-03-03T10:00:00+07:00", "TN")]


def test_first_action_that_is_the_reception_keeps_the_reception_step(httpserver, evaluator):
    src = source(serve(httpserver, fixture("first-action-reception")))
    evidence = judged(evaluator, src)
    assert [r[0] for r in rows(evidence)] == ["TN", "TD", "PD", "TKQ"]
    assert not [n for n in evidence["nonconformities"] if n["kind"] == "missing_step"]
    # the first action's own time is not listed: its hand-over is taken 1 s after receiveDate
    assert rows(evidence)[:2] == [("TN", 0, True), ("TD", 119, True)]


def test_bundled_mapping_places_the_releasing_step_and_the_return(httpserver, evaluator):
    src = source(serve(httpserver, fixture("releasing")))
    evidence = judged(evaluator, src)
    assert rows(evidence) == [("TN", 30, True), ("TD", 90, True), ("PD", 120, True), ("TKQ", 270, True)]
    assert not [n for n in evidence["nonconformities"] if n["kind"] in ("missing_step", "late_step")]


def test_unmapped_reports_every_step_and_action_reaching_no_iso_step(httpserver, tmp_path):
    text = DEFAULT_MAPPING.read_text(encoding="utf-8")
    trimmed = tmp_path / "opencps.toml"
    trimmed.write_text(text.replace('"310" = "TKQ"  #', '# "310" = "TKQ"  #'), encoding="utf-8")
    src = source(serve(httpserver, fixture("releasing")), mapping=str(trimmed))
    found = src.unmapped(records(src)[0])
    # 310 is a releasing step (status kind "resolved"): still no ISO step, so it is reported
    assert ("step", "1.000002:310") in found and ("action", "1.000002:3000") in found
    assert ("step", "1.000002:400") not in found  # listed in no_iso_step: deliberately no ISO step
    bundled = source(httpserver.url_for("/o/rest/v2"))
    assert bundled.unmapped(records(bundled)[0]) == set()


def test_a_waiting_step_unknown_to_the_mapping_is_reported(httpserver):
    body = fixture("releasing")
    body["detail"]["serviceCode"] = body["item"]["serviceCode"] = "1.000003"
    src = source(serve(httpserver, body))
    record = records(src)[0]
    record.data["steps"]["200"] = ["waiting", "waiting_4"]
    assert ("step", "1.000003:200") not in src.unmapped(record)  # mapped globally to TD
    record.data["sequences"]["data"][1]["actions"][0]["stepCode"] = "210"
    assert ("step", "1.000003:210") in src.unmapped(record)


def test_rollback_rule_must_be_a_send_back(tmp_path):
    bad = tmp_path / "m.toml"
    bad.write_text('[status.new]\ncode = 2\nkind = "received"\n[actions."9000"]\nkind = "handover"\n',
                   encoding="utf-8")
    with pytest.raises(MappingError, match="9000"):
        load_mapping(bad)


def test_rolled_back_time_outside_the_chain_is_quarantined(httpserver):
    body = fixture("rollback")
    undone = next(a for p in body["sequences"]["data"] for a in p["actions"] if a["state"] == 2)
    undone["modifiedDate"] = undone["createDate"] - 60_000
    src = source(serve(httpserver, body))
    with pytest.raises(RecordError, match="rollback time is unknown"):
        src.map(records(src)[0])


def test_stored_record_keeps_only_allow_listed_fields(httpserver):
    body = fixture("rollback")
    src = source(serve(httpserver, body))
    (record,) = records(src)
    stored = orjson.loads(record.payload)
    assert set(stored["dossier"]) <= {
        "dossierId", "dossierNo", "serviceCode", "govAgencyCode", "processNo", "dossierStatus",
        "dossierSubStatus", "receiveDate", "dueDate", "releaseDate", "finishDate", "online", "originality",
        "lockState", "stepCode", "applicantIdNo"}
    for phase in stored["sequences"]["data"]:
        assert "assignUsers" not in phase
        for action in phase["actions"]:
            assert not {"actionNote", "payload", "files", "userId"} & set(action)
    for clear in ("NGUYỄN VĂN A", "Trần Thị B", "TRẦN THỊ B", "001087009999", "0912345678", "Số 1 đường A"):
        assert clear not in record.payload
    assert src.context.pseudonym("001087009999") in record.payload
