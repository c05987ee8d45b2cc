"""`isobridge.core.http` became a package; every name the single module exported is still exported."""

from __future__ import annotations

import importlib

import isobridge.core.http as http
from isobridge.core.errors import UnavailableError

EXPORTED = [
    "ACCEPT_ENCODING", "Auth", "AuthenticationError", "BasicAuth", "BearerAuth", "BodyTooLarge", "BoundedAdapter",
    "CheckResult", "Deadline", "HttpClient", "HttpError", "HttpOptions", "HttpUnavailable", "MASK", "MAX_REDIRECTS",
    "MalformedResponse", "NoAuth", "RateLimiter", "RedactSecrets", "RedactingFilter", "ResponseTooLarge",
    "SAFE_METHODS", "SECRET_NAME", "SECRET_PARAM", "UnavailableError", "UnsupportedEncoding", "check_reachability",
    "log", "parse_retry_after", "read_body", "redact", "redact_url", "register_secret", "server_reason", "url_secrets",
]
"""The project's names `core/http.py` exported before the split (its imports of typing, pydantic,
urllib and datetime helpers excepted)."""


def test_every_name_of_the_single_module_is_still_exported() -> None:
    missing = [name for name in EXPORTED if not hasattr(http, name)]
    assert missing == []
    assert sorted(http.__all__) == sorted(EXPORTED)


def test_the_parts_follow_rest_client_lines_and_errors_stay_unavailable() -> None:
    for part in ("client", "auth", "errors", "options", "bounds", "reachability", "redaction"):
        importlib.import_module(f"isobridge.core.http.{part}")
    for name in ("HttpError", "AuthenticationError", "MalformedResponse", "ResponseTooLarge", "HttpUnavailable"):
        assert issubclass(getattr(http, name), UnavailableError)
    assert http.HttpClient.__module__ == "isobridge.core.http.client"
    assert http.redact is importlib.import_module("isobridge.core.logs").redact  # one secret registry


def test_the_client_threads_one_call_record_not_positional_arguments() -> None:
    import inspect

    from isobridge.core.http.client import HttpClient

    for name in ("_send", "_retrying", "_once", "_exchange", "_judge", "_failure", "_too_slow", "_deadline"):
        parameters = list(inspect.signature(getattr(HttpClient, name)).parameters)
        assert len(parameters) <= 4, (name, parameters)
