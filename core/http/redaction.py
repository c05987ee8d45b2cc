"""Secrets in URLs: masked where shown, registered in the one secret registry (core/logs).

The log filter of :mod:`isobridge.core.logs` is put on the HTTP libraries' loggers here, so a
URL or header they log never shows a registered secret.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..logs import MASK, SECRET_NAME, RedactSecrets

SECRET_PARAM = SECRET_NAME
"""Names (of query parameters, headers) whose values are secrets."""


def redact_url(url: str) -> str:
    """The URL without user info and with secret-looking query values masked."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = urlencode(
        [(k, MASK if SECRET_PARAM.search(k) else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)],
        safe="*/,:",
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def url_secrets(url: str) -> list[str]:
    """Secrets written into a URL: the user info's password and secret-named query values."""
    parts = urlsplit(url)
    found = [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if SECRET_PARAM.search(k)]
    if parts.password:
        found.append(parts.password)
    return found


RedactingFilter = RedactSecrets
"""The filter masking secrets in log records (see :func:`isobridge.core.logs.redact`)."""

_FILTER = RedactSecrets()
for _name in ("urllib3.connectionpool", "urllib3.connection", "urllib3.response", "urllib3.poolmanager",
              "urllib3.util.retry", "requests"):
    logging.getLogger(_name).addFilter(_FILTER)
