"""The `rest` evidence sink against a fake QMS endpoint."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from werkzeug import Response

from isobridge.adapters.restpush import (
    PushAnswer, PushBatch, RestPushOptions, RestPushSink, batch_key, push_answer_schema, push_schema,
)
from isobridge.core.adapters import AdapterContext, EvidenceItem, SinkUnavailable
from isobridge.core.privacy import Pseudonymizer

TOKEN = "qms-Bearer-T0ken-xyz"
FAST = {"backoff_seconds": 0.001, "backoff_max_seconds": 0.01, "rate_limit": 0, "max_attempts": 3}
EVIDENCE = {
    "dossier": "D1", "procedure": "1.001612", "agency": "A", "channel": "direct",
    "received_at": "2025-07-01T08:00:00+07:00", "status": 10, "verdict": "on_time",
    "due_at": "2025-07-04T08:00:00+07:00", "computed_due_at": "2025-07-04T08:00:00+07:00",
    "finished_at": "2025-07-03T10:00:00+07:00", "paused_minutes": 0, "steps": [], "nonconformities": [],
    "calendar": {"name": "vn", "version": "abc"},
}


class FakeQMS:
    """Stores items by idempotency key; rejects dossiers whose code starts with BAD.

    `per_item=False`: a batch holding a bad item is refused whole with a 422 and no results.
    """

    def __init__(self, down: int = 0, per_item: bool = True):
        self.stored: dict[str, dict] = {}
        self.down, self.per_item = down, per_item
        self.headers: list[dict] = []

    def __call__(self, request):
        self.headers.append(dict(request.headers))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return Response('{"error": "unauthorized"}', 401)
        if self.down > 0:
            self.down -= 1
            return Response("down", 503)
        body = request.get_json()
        PushBatch.model_validate(body)
        results = []
        for item in body["items"]:
            key = item["idempotency_key"]
            if item["dossier"].startswith("BAD"):
                results.append({"key": key, "status": "rejected", "reason": "unknown agency"})
            elif key in self.stored:
                results.append({"key": key, "status": "duplicate"})
            else:
                self.stored[key] = item
                results.append({"key": key, "status": "accepted"})
        if not self.per_item:
            bad = [r for r in results if r["status"] == "rejected"]
            if bad:
                return Response(json.dumps({"message": "invalid item"}), 422)
        return Response(json.dumps({"results": results}), 200, content_type="application/json")


def sink(httpserver, **overrides) -> RestPushSink:
    options = RestPushOptions.model_validate({
        "adapter": "rest", "url": httpserver.url_for("/qms/evidence"),
        "auth": {"type": "bearer", "token": TOKEN}, "batch_size": 3, "http": FAST, **overrides})
    return RestPushSink(options, AdapterContext("qms", Pseudonymizer("k")))


def items(*codes: str) -> list[EvidenceItem]:
    return [EvidenceItem(code, 1, {**EVIDENCE, "dossier": code}) for code in codes]


def test_batches_are_accepted_and_idempotent(httpserver):
    qms = FakeQMS()
    httpserver.expect_request("/qms/evidence", method="POST").respond_with_handler(qms)
    out = sink(httpserver)
    result = out.write(items("D1", "D2", "D3", "D4"))
    assert result.accepted == ["D1@1", "D2@1", "D3@1", "D4@1"] and not result.rejected
    again = out.write(items("D1", "D2"))
    assert again.accepted == ["D1@1", "D2@1"] and len(qms.stored) == 4
    assert qms.headers[0]["Idempotency-Key"] == batch_key(["D1@1", "D2@1", "D3@1"])
    assert qms.headers[1]["Idempotency-Key"] == "D4@1"


def test_partial_failure_per_item(httpserver):
    httpserver.expect_request("/qms/evidence", method="POST").respond_with_handler(FakeQMS())
    result = sink(httpserver).write(items("D1", "BAD2", "D3"))
    assert result.accepted == ["D1@1", "D3@1"]
    assert result.rejected == {"BAD2@1": "unknown agency"}


def test_batch_4xx_without_results_is_split_to_find_bad_items(httpserver):
    qms = FakeQMS(per_item=False)
    httpserver.expect_request("/qms/evidence", method="POST").respond_with_handler(qms)
    result = sink(httpserver).write(items("D1", "BAD2", "D3"))
    assert sorted(result.accepted) == ["D1@1", "D3@1"]
    assert "invalid item" in result.rejected["BAD2@1"] and "422" in result.rejected["BAD2@1"]


def test_down_server_raises_sink_unavailable_then_backlog_drains(httpserver, caplog):
    qms = FakeQMS(down=10)
    httpserver.expect_request("/qms/evidence", method="POST").respond_with_handler(qms)
    out = sink(httpserver)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SinkUnavailable) as info:
        out.write(items("D1", "D2"))
    assert TOKEN not in str(info.value) and TOKEN not in caplog.text
    qms.down = 1  # one more 503 absorbed by the retries
    result = out.write(items("D1", "D2"))
    assert result.accepted == ["D1@1", "D2@1"] and len(qms.stored) == 2


def test_bad_credentials_stop_the_run(httpserver):
    httpserver.expect_request("/qms/evidence", method="POST").respond_with_handler(FakeQMS())
    with pytest.raises(SinkUnavailable):
        sink(httpserver, auth={"type": "bearer", "token": "wrong-token"}).write(items("D1"))


def test_check(httpserver):
    httpserver.expect_request("/qms/evidence", method="GET").respond_with_data("", status=405)
    result = sink(httpserver).check()
    assert result.ok and result.details["reachable"] and result.details["authenticated"]


def test_schema_file_is_current():
    shipped = Path(__file__).parents[1] / "docs" / "schemas" / "evidence-push.json"
    assert json.loads(shipped.read_text(encoding="utf-8")) == push_schema()


def test_answer_schema_file_is_current_and_the_fake_follows_it(httpserver):
    shipped = Path(__file__).parents[1] / "docs" / "schemas" / "evidence-push-answer.json"
    assert json.loads(shipped.read_text(encoding="utf-8")) == push_answer_schema()
    qms = FakeQMS()
    httpserver.expect_request("/qms/evidence", method="POST").respond_with_handler(qms)
    sink(httpserver).write(items("D1", "BAD2"))
    answer = httpserver.log[0][1].get_json()
    assert PushAnswer.model_validate(answer).results[1].status == "rejected"


def test_secret_not_in_options_repr():
    options = RestPushOptions.model_validate({"adapter": "rest", "url": "https://q", "auth": {
        "type": "bearer", "token": TOKEN}})
    assert TOKEN not in repr(options) and TOKEN not in str(options.model_dump())


LOGIN_PAGE = "<!DOCTYPE html><html><body><form action='/sso/login'><input name='password'></form></body></html>"


def post_answers(httpserver, response: Response, qms: FakeQMS | None = None) -> FakeQMS:
    """The endpoint answers every POST with `response`; the fake behind it (never reached) stores nothing."""
    qms = qms or FakeQMS()
    httpserver.expect_request("/qms/evidence", method="POST").respond_with_response(response)
    httpserver.expect_request("/sso/login").respond_with_data(LOGIN_PAGE, content_type="text/html")
    return qms


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_on_post_is_an_error_and_acknowledges_nothing(httpserver, status):
    post_answers(httpserver, Response("", status, headers={"Location": "/sso/login"}))
    with pytest.raises(SinkUnavailable) as info:
        sink(httpserver).write(items("D1", "D2"))
    assert f"HTTP {status} redirect" in str(info.value) and "/sso/login" in str(info.value)
    assert [request.path for request, _ in httpserver.log] == ["/qms/evidence"], "the redirect was followed"


@pytest.mark.parametrize("response", [
    Response(LOGIN_PAGE, 200, content_type="text/html"),
    Response("", 204),
    Response('{"ok": true}', 200, content_type="application/json"),
    Response('{"results": [{"key": "D1@1", "sta', 200, content_type="application/json"),
    Response('{"message": "conflict"}', 409, content_type="application/json"),
    Response("Not Found", 404),
], ids=["html-200", "empty-204", "json-without-results", "truncated-json", "409-without-results", "404"])
def test_an_answer_without_per_item_results_acknowledges_nothing(httpserver, response):
    post_answers(httpserver, response)
    with pytest.raises(SinkUnavailable) as info:
        sink(httpserver).write(items("D1", "D2"))
    assert "nothing is acknowledged" in str(info.value) and "2 item(s) stay pending" in str(info.value)


def test_items_the_server_does_not_mention_stay_pending(httpserver):
    answer = {"results": [{"key": "D1@1", "status": "accepted"}, {"key": "D2@1", "status": "queued"},
                          {"key": "X9@1", "status": "accepted"}, {"status": "accepted"}]}
    post_answers(httpserver, Response(json.dumps(answer), 200, content_type="application/json"))
    result = sink(httpserver).write(items("D1", "D2", "D3"))
    assert result.accepted == ["D1@1"] and not result.rejected


def test_sso_login_page_then_recovery_delivers_everything_once(httpserver):
    qms = FakeQMS()
    httpserver.expect_oneshot_request("/qms/evidence", method="POST").respond_with_data(
        LOGIN_PAGE, content_type="text/html")
    httpserver.expect_request("/qms/evidence", method="POST").respond_with_handler(qms)
    out = sink(httpserver)
    with pytest.raises(SinkUnavailable):
        out.write(items("D1", "D2"))
    assert out.write(items("D1", "D2")).accepted == ["D1@1", "D2@1"] and len(qms.stored) == 2


def test_check_refuses_a_get_redirected_to_a_login_page(httpserver):
    httpserver.expect_request("/qms/evidence", method="GET").respond_with_data(
        "", status=302, headers={"Location": "/sso/login"})
    httpserver.expect_request("/sso/login").respond_with_data(LOGIN_PAGE, content_type="text/html")
    result = sink(httpserver).check()
    assert not result.ok and "redirect to" in result.message and "/sso/login" in result.message


def test_check_refuses_an_html_page(httpserver):
    httpserver.expect_request("/qms/evidence", method="GET").respond_with_data(LOGIN_PAGE, content_type="text/html")
    result = sink(httpserver).check()
    assert not result.ok and "HTML page" in result.message


def test_a_rejection_reason_never_carries_the_token(httpserver):
    answer = {"results": [{"key": "D1@1", "status": "rejected", "reason": f"token {TOKEN} may not write " + "x" * 900}]}
    post_answers(httpserver, Response(json.dumps(answer), 200, content_type="application/json"))
    result = sink(httpserver).write(items("D1"))
    assert TOKEN not in result.rejected["D1@1"] and len(result.rejected["D1@1"]) <= 500
