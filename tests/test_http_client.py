"""The shared HTTP client: retries, Retry-After, timeouts, bounds (time, bytes), redirects, typed errors, redaction."""

from __future__ import annotations

import gzip
import json
import logging
import socket
import threading
import time
import tracemalloc
import zlib

import pytest
from pydantic import SecretStr
from werkzeug import Response

from isobridge.core.http import (
    AuthenticationError, BasicAuth, HttpClient, HttpError, HttpOptions, HttpUnavailable,
    MalformedResponse, RateLimiter, ResponseTooLarge, parse_retry_after, redact_url,
)
from isobridge.core.errors import UnavailableError
from isobridge.testing import gzip_bomb

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


# -- bounds: a wall-clock limit per request and per run, a cap on decoded body bytes -------------

def trickled(stop: threading.Event, interval: float = 0.2):
    """A JSON body sent one byte every `interval` seconds (at most 20 s on the server side)."""
    def handler(request):
        def body():
            ends = time.monotonic() + 20
            for byte in b'{"data": [' + b" " * 1000 + b"]}":
                if stop.is_set() or time.monotonic() > ends:
                    return
                yield bytes([byte])
                stop.wait(interval)
        return Response(body(), 200, content_type="application/json", direct_passthrough=True)
    return handler


@pytest.fixture
def stop():
    event = threading.Event()
    yield event
    event.set()


def test_trickled_body_is_cut_off_by_the_total_timeout(httpserver, stop):
    httpserver.expect_request("/api/x").respond_with_handler(trickled(stop))
    started = time.monotonic()
    with pytest.raises(HttpUnavailable) as info:
        client(httpserver, total_timeout=1.0, max_attempts=2).get_json("x")
    assert time.monotonic() - started < 10, "the trickle was not cut off by the wall-clock limit"
    assert "no complete answer within 1s" in str(info.value) and "total_timeout" in str(info.value)
    assert len(httpserver.log) <= 2


class RawServer:
    """A server on a real socket of 127.0.0.1 sending scripted bytes, slowly (one thread per client)."""

    def __init__(self, script: bytes, interval: float, seconds: float = 20):
        self.script, self.interval, self.seconds = script, interval, seconds
        self.stop = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        ends = time.monotonic() + self.seconds
        with conn:
            try:
                conn.recv(65536)
                for byte in self.script:
                    if self.stop.is_set() or time.monotonic() > ends:
                        return
                    conn.sendall(bytes([byte]))
                    self.stop.wait(self.interval)
            except OSError:
                return

    def close(self):
        self.stop.set()
        self.sock.close()


def test_trickled_headers_are_cut_off_by_the_total_timeout():
    server = RawServer(b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 5000 + b"\r\n\r\n{}", interval=0.1)
    try:
        started = time.monotonic()
        with pytest.raises(HttpUnavailable) as info:
            HttpClient(server.url, HttpOptions(**{**FAST, "total_timeout": 1.0, "max_attempts": 2})).get_json("x")
        assert time.monotonic() - started < 10 and "no complete answer" in str(info.value)
    finally:
        server.close()


def endless(stop: threading.Event):
    def handler(request):
        def body():
            yield b'{"data": ['
            ends = time.monotonic() + 20
            while not stop.is_set() and time.monotonic() < ends:
                yield b'{"code": "H40.22-250701-0007"},' * 1000
        return Response(body(), 200, content_type="application/json", direct_passthrough=True)
    return handler


def warm_up(httpserver) -> None:
    """Run the failing path once, so lazy imports do not count as memory the body took."""
    httpserver.expect_oneshot_request("/api/x").respond_with_data("x" * 4096)
    with pytest.raises(ResponseTooLarge):
        client(httpserver, max_body_bytes=1024).get_json("x")
    httpserver.clear_log()


def test_endless_body_stops_at_the_cap_in_bounded_memory(httpserver, stop):
    httpserver.expect_request("/api/x").respond_with_handler(endless(stop))
    warm_up(httpserver)
    tracemalloc.start()
    try:
        with pytest.raises(ResponseTooLarge) as info:
            client(httpserver, max_body_bytes=1 << 20).get_json("x")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "max_body_bytes = 1048576" in str(info.value)
    assert peak < 32 << 20, f"{peak} bytes held for a 1 MiB cap (the fake server's thread included)"
    assert len(httpserver.log) == 1, "a body over the cap is not retried"


def test_gzip_bomb_is_cut_off_on_decoded_bytes(httpserver, stop):
    bomb = gzip_bomb(1024)  # 1 GiB of zeros in about 1 MB
    assert len(bomb) < 1_500_000
    httpserver.expect_request("/api/x").respond_with_response(Response(
        bomb, 200, content_type="application/json", headers={"Content-Encoding": "gzip"}))
    warm_up(httpserver)
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(ResponseTooLarge):
            client(httpserver, max_body_bytes=4 << 20).get_json("x")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20 and time.monotonic() - started < 5  # of 1 GiB decoded


def test_compressed_bodies_within_the_cap_are_decoded(httpserver):
    payload = json.dumps({"data": [{"code": f"H40.22-{n:06d}"} for n in range(2000)]}).encode()
    deflated = zlib.compressobj(6, zlib.DEFLATED, -15)
    for encoding, body in [("gzip", gzip.compress(payload)), ("deflate", zlib.compress(payload)),
                           ("deflate", deflated.compress(payload) + deflated.flush())]:
        httpserver.clear()
        httpserver.expect_request("/api/x").respond_with_response(Response(
            body, 200, content_type="application/json", headers={"Content-Encoding": encoding}))
        assert client(httpserver).get_json("x") == json.loads(payload)
        assert httpserver.log[0][0].headers["Accept-Encoding"] == "gzip, deflate"


def test_unknown_content_encoding_is_malformed(httpserver):
    httpserver.expect_request("/api/x").respond_with_response(Response(
        b"\x28\xb5\x2f\xfd", 200, headers={"Content-Encoding": "zstd"}))
    with pytest.raises(MalformedResponse) as info:
        client(httpserver).get_json("x")
    assert "Content-Encoding: zstd" in str(info.value)


def test_run_deadline_stops_every_later_call(httpserver):
    httpserver.expect_request("/api/x").respond_with_data('{"a": 1}')
    http = client(httpserver, max_run_seconds=60)
    assert http.get_json("x") == {"a": 1}
    http.run_started -= 61  # the run began 61 s ago
    with pytest.raises(HttpUnavailable) as info:
        http.get_json("x")
    assert "max_run_seconds = 60 s" in str(info.value) and len(httpserver.log) == 1
    assert isinstance(info.value, UnavailableError)


def test_run_deadline_cuts_a_request_in_flight_without_retrying(httpserver, stop):
    httpserver.expect_request("/api/x").respond_with_handler(trickled(stop))
    http = client(httpserver, max_run_seconds=60, total_timeout=30, max_attempts=5)
    http.run_started -= 59  # one second left
    started = time.monotonic()
    with pytest.raises(HttpUnavailable) as info:
        http.get_json("x")
    assert time.monotonic() - started < 8 and "passed during the request" in str(info.value)
    assert len(httpserver.log) <= 1


def test_redirect_answering_a_write_is_not_followed(httpserver):
    httpserver.expect_request("/api/x", method="POST").respond_with_data(
        "", status=302, headers={"Location": "/sso/login?next=/api/x"})
    httpserver.expect_request("/sso/login").respond_with_data("<html>login</html>", content_type="text/html")
    with pytest.raises(HttpError) as info:
        client(httpserver).request("POST", "x", json={"a": 1}, ok=lambda status: status < 500)
    assert info.value.status == 302 and "not followed" in str(info.value)
    assert [r.method for r, _ in httpserver.log] == ["POST"]


def test_redirect_answering_a_read_is_followed(httpserver):
    httpserver.expect_request("/api/x").respond_with_data("", status=301, headers={"Location": "/api/v2/x"})
    httpserver.expect_request("/api/v2/x").respond_with_data('{"moved": true}')
    assert client(httpserver).get_json("x") == {"moved": True}


def test_a_redirect_to_another_host_drops_the_credentials(httpserver):
    other = httpserver.url_for("/api/v2/x").replace("localhost", "127.0.0.1")
    httpserver.expect_request("/api/x").respond_with_data("", status=302, headers={"Location": other})
    httpserver.expect_request("/api/v2/x").respond_with_data('{"moved": true}')
    http = HttpClient(httpserver.url_for("/api/"), HttpOptions(**FAST), auth=BasicAuth("officer", SecretStr(SECRET)),
                      headers={"X-Api-Key": "api-key-value-1234", "X-Tenant": "hcm"})
    assert http.get_json("x") == {"moved": True}
    first, second = (request.headers for request, _ in httpserver.log)
    assert "Authorization" in first and first["X-Api-Key"] == "api-key-value-1234"
    assert "Authorization" not in second and "X-Api-Key" not in second and second["X-Tenant"] == "hcm"


def test_a_server_reason_is_masked_before_it_is_cut(httpserver):
    httpserver.expect_request("/api/x").respond_with_data(json.dumps({"message": "x" * 190 + SECRET}), status=400)
    with pytest.raises(HttpError) as info:
        client(httpserver).get_json("x")
    assert SECRET[:6] not in str(info.value)


def test_a_redirect_loop_ends(httpserver):
    httpserver.expect_request("/api/x").respond_with_data("", status=302, headers={"Location": "/api/x"})
    with pytest.raises(HttpError) as info:
        client(httpserver).get_json("x")
    assert "more than 10 redirects" in str(info.value) and len(httpserver.log) == 11
