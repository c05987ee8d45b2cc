"""Secrets never leave: one registry (`isobridge.core.logs`), every escaped form, every path out.

The paths: log records (ours and urllib3's), error messages, `check` and `runs` output, the
ledger's `runs` table. The secrets: a token in an endpoint URL's query string, a bearer token with
the trailing line break a secret file gives it, a password a login endpoint echoes form-encoded.
"""

from __future__ import annotations

import base64
import json
import logging
import sqlite3
from pathlib import Path
from urllib.parse import quote, quote_plus, urlencode

import orjson
import pytest
from pydantic import SecretStr
from werkzeug import Response

from isobridge.core import http, logs, samples
from isobridge.core.cli import main
from isobridge.core.http import BasicAuth, BearerAuth, HttpClient, HttpError, HttpOptions
from isobridge.core.logs import redact, register_secret

FAST = dict(backoff_seconds=0.001, backoff_max_seconds=0.01, rate_limit=0, max_attempts=2,
            read_timeout=2, connect_timeout=2)
PASSWORD = 'p@ss w0rd&="Mật\\khẩu'
"""A password with every character class that escapes differently in URLs, JSON and HTML."""


def forms(secret: str) -> list[str]:
    """The forms a secret takes in messages: raw, URL-, JSON-, repr- and HTML-escaped, base64."""
    return [secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1],
            json.dumps(secret, ensure_ascii=False)[1:-1], repr(secret)[1:-1],
            base64.b64encode(secret.encode()).decode().rstrip("=")]


def leaked(text: str, *secrets: str) -> list[str]:
    return [form for secret in secrets for form in forms(secret.strip()) if form in text]


# -- the registry -------------------------------------------------------------------------------

def test_one_registry_for_logs_errors_and_the_http_client():
    token = "login-token-7d1c9e0b"
    http.register_secret(token)  # what an adapter does with a token a login returned
    assert logs.redact(f"refused: {token}") == "refused: ***"
    assert http.register_secret is logs.register_secret and http.RedactingFilter is logs.RedactSecrets


def test_every_escaped_form_is_masked():
    register_secret(PASSWORD)
    for form in forms(PASSWORD):
        assert PASSWORD not in redact(f"echo: {form} end") and form not in redact(f"echo: {form} end"), form
    body = orjson.dumps({"error": f"bad login {PASSWORD}"}).decode()
    assert not leaked(redact(body), PASSWORD)


def test_basic_credentials_are_masked_as_the_header_carries_them():
    BasicAuth("officer", SecretStr("Basic-Pa55word-31"))
    header = base64.b64encode(b"officer:Basic-Pa55word-31").decode()
    assert header not in redact(f"sent Authorization: Basic {header}")


def test_secret_looking_values_are_masked_without_being_registered():
    text = redact('GET https://u:pw-in-url@h/api?page=2&access_token=tkn-a1b2&sig=abc '
                  'body username=officer&password=hunter2-x {"client_secret": "cs-9 9"} Bearer eyJhbGciOi.x.y')
    for value in ("pw-in-url", "tkn-a1b2", "abc", "hunter2-x", "cs-9 9", "eyJhbGciOi"):
        assert value not in text, value
    assert "page=2" in text and "username=officer" in text
    check_line = "sink qms: ok HTTP 405 (reachable=True, authenticated=True, permissions=True)"
    assert redact(check_line) == check_line


def test_short_values_are_not_registered():
    register_secret("abc")
    assert redact("abc abc") == "abc abc"


# -- the HTTP client ----------------------------------------------------------------------------

def our_log(caplog) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug"))


def test_bearer_token_with_a_trailing_line_break_is_sent_stripped(httpserver, caplog):
    token = "file-Token-0c9d8e7f"
    httpserver.expect_request("/api/x", headers={"Authorization": f"Bearer {token}"}).respond_with_data("{}")
    caplog.set_level(logging.DEBUG)
    client = HttpClient(httpserver.url_for("/api/"), HttpOptions(**FAST), auth=BearerAuth(SecretStr(token + "\n")))
    assert client.get_json("x") == {}
    assert redact(repr(f"Bearer {token}\n")) == "'Bearer ***'" and not leaked(our_log(caplog), token)


def test_form_encoded_password_echoed_by_a_login_endpoint(httpserver, caplog):
    def login(request):  # echoes the form it got, as some login endpoints do in their errors
        return Response(json.dumps({"message": f"invalid login: {request.get_data(as_text=True)}"}), 400,
                        content_type="application/json")
    httpserver.expect_request("/api/login", method="POST").respond_with_handler(login)
    caplog.set_level(logging.DEBUG)
    client = HttpClient(httpserver.url_for("/api/"), HttpOptions(**FAST), auth=BasicAuth("officer", SecretStr(PASSWORD)))
    with pytest.raises(HttpError) as info:
        client.request_json("POST", "login", data={"username": "officer", "password": PASSWORD}, authenticate=False)
    assert "invalid login" in str(info.value) and urlencode({"password": PASSWORD}) not in httpserver.log[0][0].url
    assert not leaked(str(info.value) + our_log(caplog), PASSWORD)


def test_token_in_the_endpoint_query_string(httpserver, caplog):
    token = "Query-Token-5e6f7a8b"
    httpserver.expect_request("/api/x").respond_with_data(json.dumps({"message": f"bad token {token}"}), status=500)
    caplog.set_level(logging.DEBUG)
    client = HttpClient(httpserver.url_for(f"/api/?token={token}"), HttpOptions(**FAST))
    with pytest.raises(HttpError) as info:
        client.get_json(httpserver.url_for(f"/api/x?token={token}"))
    assert "token=***" in str(info.value) and not leaked(str(info.value) + our_log(caplog), token)
    with pytest.raises(HttpError) as info:  # requests refuses the URL: its own message names it
        client.get_json(f"ftp://files.example.vn/x?token={token}")
    assert not leaked(str(info.value), token)
    assert not leaked(redact(f"stored run error: GET {client.base_url} failed"), token)


# -- every path out of a deployment: stderr, `check`, `runs`, the ledger's runs table ---------

URL_TOKEN = "Url-Token-3c4d5e6f"
BEARER = "Sink-Bearer-8a9b0c1d"


@pytest.fixture
def deployment(tmp_path: Path, httpserver, monkeypatch) -> Path:
    """Case logs to a `rest` sink whose URL carries a token and whose bearer token ends in a line break."""
    echo = json.dumps({"message": f"backend down (Authorization: Bearer {BEARER}; token={URL_TOKEN})"})
    httpserver.expect_request("/qms/evidence", method="POST").respond_with_data(echo, status=503)
    httpserver.expect_request("/qms/evidence", method="GET").respond_with_data(echo, status=401)
    (tmp_path / "in").mkdir()
    (tmp_path / "in/a.jsonl").write_bytes(b"".join(samples.CASES.read_bytes().splitlines(keepends=True)[:5]))
    url = httpserver.url_for(f"/qms/evidence?token={URL_TOKEN}")
    http_options = ", ".join(f"{key} = {value}" for key, value in FAST.items())
    (tmp_path / "conf.toml").write_text(
        '[ledger]\npath = "ledger.db"\n'
        '[sources.onestop]\nadapter = "caselog"\nfolder = "in"\nsettle_seconds = 0\n'
        f'[sinks.qms]\nadapter = "rest"\nurl = "{url}"\nauth = {{ type = "bearer" }}\nhttp = {{ {http_options} }}\n',
        encoding="utf-8")
    monkeypatch.setenv("ISOBRIDGE_SINKS__QMS__AUTH__TOKEN", BEARER + "\n")
    return tmp_path


def test_no_secret_in_stderr_check_runs_or_the_runs_table(deployment: Path, capsys, caplog):
    config = str(deployment / "conf.toml")
    assert main(["sync", "--config", config, "--log-level", "DEBUG"]) == 1
    assert main(["check", "--config", config]) == 1
    assert main(["runs", "--config", config]) == 0
    out = capsys.readouterr()
    stored = sqlite3.connect(deployment / "ledger.db").execute("SELECT error FROM runs").fetchall()
    assert stored and "unavailable" in stored[0][0]
    everything = out.out + out.err + our_log(caplog) + repr(stored)
    assert not leaked(everything, URL_TOKEN, BEARER), leaked(everything, URL_TOKEN, BEARER)


def test_a_recording_masks_every_form_of_its_secrets():
    from isobridge.testing import Scrubber

    secret = 'rec"S3cret\\ợ-77'
    body = json.dumps({"note": f"echo {secret}", "next": f"/items?page=2&q={quote_plus(secret)}"})
    scrubbed = Scrubber([secret]).body(body)
    assert not leaked(scrubbed, secret) and "page=2" in scrubbed


def test_prose_about_credentials_is_left_alone():
    text = "Basic authentication failed; the Bearer token expired; set http.ca_bundle"
    assert redact(text) == text
