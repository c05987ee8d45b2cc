"""The HTTP error tree, and what an error answer says (its reason, its `Retry-After`).

    UnavailableError (isobridge.core.errors: the run stops, the checkpoint is kept)
    └── HttpError                 method, redacted URL, status, reason
        ├── AuthenticationError   401, or a vendor's equivalent (OpenCPS 203)
        ├── MalformedResponse     not JSON, truncated, wrong shape
        │   └── ResponseTooLarge  past http.max_body_bytes (not retried)
        └── HttpUnavailable       5xx, 429, timeouts through every retry
"""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import orjson
import requests

from ..errors import UnavailableError
from ..logs import redact


class HttpError(UnavailableError):
    """An HTTP exchange failed; the message names the method, the (redacted) URL and why."""

    def __init__(self, message: str, url: str = "", status: int | None = None, reason: str = ""):
        super().__init__(message)
        self.url = url
        self.status = status
        self.reason = reason


class AuthenticationError(HttpError):
    """The server refused the credentials (401, or a vendor's equivalent such as OpenCPS 203)."""


class MalformedResponse(HttpError):
    """The body is not what was expected (not JSON, truncated, wrong shape)."""


class ResponseTooLarge(MalformedResponse):
    """The body passed `max_body_bytes` (decoded); not retried."""


class HttpUnavailable(HttpError):
    """The server stayed unreachable or failing (5xx, 429, timeouts) through every retry."""


class _Retry(Exception):
    """Internal: a transient failure worth another attempt."""

    def __init__(self, error: HttpError, retry_after: float | None = None):
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, (moment - (now or datetime.now(timezone.utc))).total_seconds())


def server_reason(response: requests.Response) -> str:
    """A short reason from an error body (`message`/`description`/`error`), else the HTTP reason; redacted."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict):
        for key in ("description", "message", "error_description", "error", "detail", "title"):
            if isinstance(body.get(key), str) and body[key]:
                return redact(body[key])[:200]  # masked before it is cut: no secret half-shown
    return response.reason or ""
