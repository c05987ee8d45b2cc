"""A rest source's relative `profile` path is relative to the configuration file, not the working folder."""

from __future__ import annotations

from pathlib import Path

from isobridge.core.cli import main
from rest_support import FLAT_RECORD

PROFILE = """
[profile]
name = "relative"
[records]
path = "items"
items = "items"
[paging]
style = "none"
""" + FLAT_RECORD


def test_a_relative_profile_resolves_against_the_configuration_file(httpserver, tmp_path, monkeypatch, capsys) -> None:
    deployment, elsewhere = tmp_path / "etc", tmp_path / "cron-home"
    deployment.mkdir()
    elsewhere.mkdir()
    (deployment / "vendor.toml").write_text(PROFILE, encoding="utf-8")
    (deployment / "conf.toml").write_text(
        f'[ledger]\npath = "ledger.db"\n'
        f'[sources.vendor]\nadapter = "rest"\nprofile = "vendor.toml"\nbase_url = "{httpserver.url_for("/")}"\n'
        f'[sinks.evidence]\nadapter = "jsonl"\npath = "evidence.jsonl"\n', encoding="utf-8")
    httpserver.expect_request("/items").respond_with_json({"items": [
        {"id": "r1", "code": "D-1", "procedure": "1.001612", "received": "2026-03-02T09:30:00+07:00", "status": 4}]})
    monkeypatch.chdir(elsewhere)  # as cron does: the working folder is not the deployment's
    status = main(["sync", "--config", str(deployment / "conf.toml")])
    assert status == 0, capsys.readouterr().err
    assert Path(deployment / "evidence.jsonl").read_text(encoding="utf-8").count("D-1") == 1


def test_a_relative_ca_bundle_resolves_against_the_configuration_file(tmp_path, monkeypatch, capsys) -> None:
    """An HTTPS server signed by a provincial CA, the CA file named relatively in the configuration."""
    import json
    import ssl
    import subprocess

    from pytest_httpserver import HTTPServer

    deployment, elsewhere = tmp_path / "etc", tmp_path / "cron-home"
    deployment.mkdir()
    elsewhere.mkdir()
    key, cert = tmp_path / "server.key", deployment / "ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = HTTPServer(host="127.0.0.1", ssl_context=context)
    server.start()
    try:
        server.expect_request("/items").respond_with_data(json.dumps({"items": [
            {"id": "r1", "code": "D-1", "procedure": "1.001612", "received": "2026-03-02T09:30:00+07:00",
             "status": 4}]}), content_type="application/json")
        (deployment / "vendor.toml").write_text(PROFILE, encoding="utf-8")
        (deployment / "conf.toml").write_text(
            f'[ledger]\npath = "ledger.db"\n'
            f'[sources.vendor]\nadapter = "rest"\nprofile = "vendor.toml"\nbase_url = "{server.url_for("/")}"\n'
            f'http = {{ ca_bundle = "ca.pem", max_attempts = 1 }}\n'
            f'[sinks.evidence]\nadapter = "jsonl"\npath = "evidence.jsonl"\n', encoding="utf-8")
        monkeypatch.chdir(elsewhere)
        status = main(["sync", "--config", str(deployment / "conf.toml")])
        assert status == 0, capsys.readouterr().err
        assert (deployment / "evidence.jsonl").read_text(encoding="utf-8").count("D-1") == 1
    finally:
        server.clear()
        server.stop()
