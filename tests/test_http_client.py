"""The shared HTTP client: retries, Retry-After, timeouts, typed errors, redaction."""

from __future__ import annotations

import logging
import time

import pytest
from pydantic import SecretStr
from werkzeug import Response

from isobridge.core.http import (
    AuthenticationError, BasicAuth, HttpClient, HttpError, HttpOptions, HttpUnavailable,
    MalformedResponse, RateLimiter, parse_retry_after, redact_url,
)

SECRET = "s3cr3t-Pa55word"
FAST = dict(backoff_seconds=0.001, backoff_max_seconds=0.01, rate_limit=0, max_attempts=4,
            read_timeout=0.5, connect_timeout=0.5)


def client(httpserver, **overrides) -> HttpClient:
    options = HttpOptions(**{**FAST, **overrides})
    return HttpClient(httpserver.url_for("/api/"), options, auth=BasicAuth("officer", SecretStr(SECRET)))


class Sequence:
    """A handler answering with the given responses in turn, then the last one forever."""

    def __init__(self, *responses):
        self.responses = list(responses)
        self.calls = 0

    def __call__(self, request):
        response = self.responses[min(self.calls, len(self.responses) - 1)]
        self.calls += 1
        return response if isinstance(response, Response) else response()


def test_5xx_burst_is_retried_then_succeeds(httpserver):
    handler = Sequence(Response("oops", 502), Response("oops", 503), Response('{"a": 1}', 200))
    httpserver.expect_request("/api/x").respond_with_handler(handler)
    assert client(httpserver).get_json("x") == {"a": 1}
    assert handler.calls == 3


def test_429_honours_retry_after(httpserver):
    handler = Sequence(Response("slow down", 429, headers={"Retry-After": "1"}), Response("[]", 200))
    httpserver.expect_request("/api/x").respond_with_handler(handler)
    started = time.monotonic()
    assert client(httpserver).get_json("x") == []
    assert time.monotonic() - started >= 0.9


def test_retry_after_is_capped(httpserver):
    handler = Sequence(Response("", 429, headers={"Retry-After": "3600"}), Response("[]", 200))
    httpserver.expect_request("/api/x").respond_with_handler(handler)
    started = time.monotonic()
    assert client(httpserver, retry_after_max_seconds=0.01).get_json("x") == []
    assert time.monotonic() - started < 2


def test_persistent_5xx_gives_unavailable_after_bounded_attempts(httpserver):
    handler = Sequence(Response('{"message": "down"}', 500))
    httpserver.expect_request("/api/x").respond_with_handler(handler)
    with pytest.raises(HttpUnavailable) as info:
        client(httpserver).get_json("x")
    assert handler.calls == 4
    assert info.value.status == 500 and "down" in str(info.value)


def test_other_4xx_is_not_retried(httpserver):
    handler = Sequence(Response('{"message": "No Content.", "description": "bad agency"}', 403))
    httpserver.expect_request("/api/x").respond_with_handler(handler)
    with pytest.raises(HttpError) as info:
        client(httpserver).get_json("x")
    assert handler.calls == 1 and info.value.status == 403 and "bad agency" in str(info.value)
    assert not isinstance(info.value, HttpUnavailable)


def test_read_timeout_is_retried(httpserver):
    def slow():
        time.sleep(0.4)
        return Response("{}", 200)

    handler = Sequence(slow, Response('{"ok": true}', 200))
    httpserver.expect_request("/api/x").respond_with_handler(handler)
    assert client(httpserver, read_timeout=0.2).get_json("x") == {"ok": True}


def test_non_json_and_truncated_bodies(httpserver):
    handler = Sequence(Response("<html>login</html>", 200, content_type="text/html"), Response('{"data": [1, 2', 200),
                       Response('{"data": []}', 200))
    httpserver.expect_request("/api/x").respond_with_handler(handler)
    assert client(httpserver).get_json("x") == {"data": []}
    httpserver.expect_request("/api/y").respond_with_data('{"data": [', status=200)
    with pytest.raises(MalformedResponse) as info:
        client(httpserver, max_attempts=2).get_json("y", expected="a dossier list")
    assert "expected a dossier list" in str(info.value) and "/api/y" in str(info.value)


def our_log(caplog) -> str:
    """Log text of the client side (the fake server's own access log is not ours)."""
    return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug"))


def test_authentication_error_is_typed_and_secret_free(httpserver, caplog):
    httpserver.expect_request("/api/x").respond_with_data("nope", status=401)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthenticationError) as info:
        client(httpserver).get_json("x", params={"token": SECRET, "page": 1})
    text = str(info.value) + our_log(caplog) + repr(info.value)
    assert SECRET not in text and "token=***" in str(info.value)


def test_secrets_never_logged_during_retries(httpserver, caplog):
    httpserver.expect_request("/api/x").respond_with_data(f'{{"message": "bad {SECRET}"}}', status=500)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(HttpUnavailable) as info:
        client(httpserver).get_json("x", params={"access_token": SECRET})
    assert SECRET not in our_log(caplog) and SECRET not in str(info.value)
    assert "attempt" in caplog.text


def test_connection_refused_is_unavailable():
    options = HttpOptions(**FAST)
    with pytest.raises(HttpUnavailable) as info:
        HttpClient("http://127.0.0.1:9/", options).get_json("x")
    assert "cannot connect" in str(info.value)


def test_clock_skew_from_date_header(httpserver):
    httpserver.expect_request("/api/x").respond_with_data(
        "{}", headers={"Date": "Mon, 01 Jan 2024 00:00:00 GMT"})
    http = client(httpserver)
    http.get_json("x")
    assert http.clock_skew_seconds() < -3600


def test_helpers():
    assert redact_url("https://u:pw@h/p?password=x&start=0") == "https://h/p?password=***&start=0"
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None
    assert "***" in repr(BasicAuth("a", SecretStr(SECRET))) and SECRET not in repr(BasicAuth("a", SecretStr(SECRET)))


def test_rate_limiter_spaces_requests():
    now = [0.0]
    slept: list[float] = []
    limiter = RateLimiter(4, clock=lambda: now[0], sleep=slept.append)
    for _ in range(3):
        limiter.wait()
    assert slept == [0.25, 0.5]


def test_ca_bundle_and_verify_are_passed(httpserver, tmp_path, monkeypatch):
    seen = {}
    http = client(httpserver, ca_bundle=tmp_path / "ca.pem")
    original = http.session.request

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return original(*args, **{**kwargs, "verify": True})

    monkeypatch.setattr(http.session, "request", spy)
    httpserver.expect_request("/api/x").respond_with_data("{}")
    http.get_json("x")
    assert seen["verify"] == str(tmp_path / "ca.pem")
    assert HttpOptions().verify_tls is True and HttpOptions().trust_env is True


def test_proxies_and_ca_bundle_come_from_the_environment_once(monkeypatch, tmp_path):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.tinh.gov.vn:3128")
    monkeypatch.setenv("NO_PROXY", "lgsp.internal")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "provincial-ca.pem"))
    proxied = HttpClient("https://dvc.example.gov.vn/api", HttpOptions())
    assert proxied.session.proxies.get("https") == "http://proxy.tinh.gov.vn:3128"
    assert proxied.env_ca_bundle == str(tmp_path / "provincial-ca.pem")
    assert HttpClient("https://lgsp.internal/api", HttpOptions()).session.proxies.get("https") is None
    assert HttpClient("https://dvc.example.gov.vn/api", HttpOptions(trust_env=False)).session.proxies == {}
