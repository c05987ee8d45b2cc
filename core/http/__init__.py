"""The one HTTP client every adapter uses, in parts along dlt's `rest_client` lines.

:mod:`.client` (:class:`HttpClient`: retries, rate limit, bounds, redirects), :mod:`.auth`
(:class:`NoAuth`, :class:`BasicAuth`, :class:`BearerAuth`), :mod:`.errors` (the
:class:`HttpError` tree under :class:`~isobridge.core.errors.UnavailableError`), :mod:`.options`
(:class:`HttpOptions`, an adapter's `http` table), :mod:`.bounds` (deadline, body cap, rate
limit), :mod:`.redaction` (secrets in URLs; the one secret registry is
:mod:`isobridge.core.logs`) and :mod:`.reachability` (:func:`check_reachability`). Paging
styles are in :mod:`isobridge.core.paging`. Every name this module exported as one file is
still exported here.
"""

from __future__ import annotations

from ..adapters import CheckResult
from ..errors import UnavailableError
from ..logs import MASK, SECRET_NAME, RedactSecrets, redact, register_secret
from .auth import Auth, BasicAuth, BearerAuth, NoAuth
from .bounds import (
    ACCEPT_ENCODING, BodyTooLarge, BoundedAdapter, Deadline, RateLimiter, UnsupportedEncoding, read_body,
)
from .client import MAX_REDIRECTS, SAFE_METHODS, HttpClient, log
from .errors import (
    AuthenticationError, HttpError, HttpUnavailable, MalformedResponse, ResponseTooLarge, parse_retry_after,
    server_reason,
)
from .options import HttpOptions
from .reachability import check_reachability
from .redaction import SECRET_PARAM, RedactingFilter, redact_url, url_secrets

__all__ = [
    "ACCEPT_ENCODING", "MASK", "MAX_REDIRECTS", "SAFE_METHODS", "SECRET_NAME", "SECRET_PARAM", "Auth",
    "AuthenticationError", "BasicAuth", "BearerAuth", "BodyTooLarge", "BoundedAdapter", "CheckResult", "Deadline",
    "HttpClient", "HttpError", "HttpOptions", "HttpUnavailable", "MalformedResponse", "NoAuth", "RateLimiter",
    "RedactSecrets", "RedactingFilter", "ResponseTooLarge", "UnavailableError", "UnsupportedEncoding",
    "check_reachability", "log", "parse_retry_after", "read_body", "redact", "redact_url", "register_secret",
    "server_reason", "url_secrets",
]
