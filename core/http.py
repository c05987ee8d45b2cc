"""The one HTTP client every adapter uses: timeouts, bounded retries, rate limit, bounds, redaction.

Retries (exponential backoff with full jitter) cover connection errors, read timeouts, broken
or malformed bodies, 5xx and 429 (whose `Retry-After` is honoured); they stop after
`max_attempts` or `max_retry_seconds`. Other 4xx are final. Every attempt has a wall-clock
limit (`total_timeout`), every body a cap on its decoded bytes (`max_body_bytes`), every client a
run limit (`max_run_seconds` from its creation, i.e. the run's start). Redirects are followed for
GET and HEAD only (a write is never re-sent elsewhere). Errors are typed
(:class:`AuthenticationError`, :class:`MalformedResponse`, :class:`ResponseTooLarge`,
:class:`HttpUnavailable`, :class:`HttpError`), name the URL with query secrets masked, and never
carry a secret (:func:`isobridge.core.logs.redact`).
"""

from __future__ import annotations

import base64
import logging
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import orjson
import requests
import tenacity
import urllib3
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from .adapters import CheckResult
from .errors import UnavailableError
from .http_bounds import ACCEPT_ENCODING, BodyTooLarge, BoundedAdapter, Deadline, UnsupportedEncoding, read_body
from .logs import MASK, SECRET_NAME, RedactSecrets, redact, register_secret

log = logging.getLogger("isobridge.http")

SECRET_PARAM = SECRET_NAME
SAFE_METHODS = frozenset({"GET", "HEAD"})
"""Methods whose redirects are followed; any other (a write) is never re-sent elsewhere."""
MAX_REDIRECTS = 10


class HttpOptions(BaseModel):
    """HTTP settings an adapter embeds as its `http` table."""

    model_config = ConfigDict(extra="forbid")

    connect_timeout: float = Field(10.0, gt=0, description="Seconds to wait for a connection.")
    read_timeout: float = Field(60.0, gt=0, description="Seconds to wait for response bytes.")
    max_attempts: int = Field(5, ge=1, le=50, description="Attempts per request, the first included.")
    max_retry_seconds: float = Field(300.0, ge=0, description="Give up retrying after this long.")
    backoff_seconds: float = Field(1.0, ge=0, description="First backoff; doubles per attempt.")
    backoff_max_seconds: float = Field(60.0, ge=0, description="Longest single backoff.")
    retry_after_max_seconds: float = Field(300.0, ge=0, description="Cap on a server's Retry-After.")
    rate_limit: float = Field(5.0, ge=0, description="Requests per second to this source; 0 = unlimited.")
    verify_tls: bool = Field(True, description="Verify the server certificate (keep on).")
    ca_bundle: Path | None = Field(None, description="PEM file of the CA that signed the server certificate.")
    trust_env: bool = Field(True, description="Take proxies (HTTPS_PROXY, NO_PROXY) from the environment.")
    total_timeout: float = Field(300.0, gt=0, description="Wall-clock seconds one attempt may take, "
                                 "connection to last body byte (a server trickling bytes is cut off).")
    max_body_bytes: int = Field(64 * 1024 * 1024, ge=1024, description="Largest response body, counted "
                                "after decompression (an endless body or a gzip bomb is cut off).")
    max_run_seconds: float = Field(3 * 3600.0, ge=0, description="Wall-clock seconds of all requests of "
                                   "one run (from the client's creation); later calls fail. 0 = no limit.")
    user_agent: str = "isobridge/0.1"


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


class Auth(Protocol):
    """Credentials an adapter plugs into the client."""

    def headers(self, client: "HttpClient") -> dict[str, str]:
        """Headers to send with every request (may log in first)."""

    def refresh(self, client: "HttpClient") -> bool:
        """Drop cached credentials after a refusal; True if retrying can help."""

    def secrets(self) -> list[str]:
        """Secret values to mask in every message."""


class NoAuth:
    """No credentials."""

    def headers(self, client: "HttpClient") -> dict[str, str]:
        """No headers."""
        return {}

    def refresh(self, client: "HttpClient") -> bool:
        """Nothing to refresh."""
        return False

    def secrets(self) -> list[str]:
        """No secrets."""
        return []


class BasicAuth(NoAuth):
    """HTTP Basic credentials (a password's trailing line break, as a secret file has, is dropped)."""

    def __init__(self, username: str, password: SecretStr):
        self.given = password.get_secret_value()
        self.username, self.password = username.strip(), SecretStr(self.given.rstrip("\r\n"))

    def headers(self, client: "HttpClient") -> dict[str, str]:
        """The Authorization header."""
        raw = f"{self.username}:{self.password.get_secret_value()}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    def secrets(self) -> list[str]:
        """The password (as given and as sent) and the encoded header value."""
        header = self.headers(None)["Authorization"][6:]  # type: ignore[arg-type]
        return [self.given, self.password.get_secret_value(), header]

    def __repr__(self) -> str:
        return f"BasicAuth(username={self.username!r}, password=***)"


class BearerAuth(NoAuth):
    """A fixed bearer token (surrounding whitespace, such as a secret file's line break, is dropped)."""

    def __init__(self, token: SecretStr):
        self.given = token.get_secret_value()
        self.token = SecretStr(self.given.strip())

    def headers(self, client: "HttpClient") -> dict[str, str]:
        """The Authorization header."""
        return {"Authorization": f"Bearer {self.token.get_secret_value()}"}

    def secrets(self) -> list[str]:
        """The token, as given and as sent."""
        return [self.given, self.token.get_secret_value()]

    def __repr__(self) -> str:
        return "BearerAuth(token=***)"


class RateLimiter:
    """Spaces requests at least `1/rate` seconds apart (thread-safe); rate 0 = unlimited."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()
        self._clock, self._sleep = clock, sleep

    def wait(self) -> None:
        """Block until the next request may go."""
        if not self.interval:
            return
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            self._sleep(start - now)


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


class _Shown:
    """The request URL as shown in messages (query secrets masked), built only when needed."""

    def __init__(self, client: "HttpClient", method: str, url: str, params: dict | None):
        self.client, self.method, self.url, self.params, self.text = client, method, url, params, ""

    def __call__(self) -> str:
        if not self.text:
            full = requests.Request(self.method, self.url, params=self.params).prepare().url or self.url
            self.text = redact_url(self.client.redact(full))
        return self.text


@dataclass
class HttpClient:
    """A requests session with retries, rate limit, bounds and redaction, for one base URL."""

    base_url: str
    options: HttpOptions = field(default_factory=HttpOptions)
    auth: Any = field(default_factory=NoAuth)
    headers: dict[str, str] = field(default_factory=dict)
    auth_statuses: frozenset[int] = frozenset({401})
    """Statuses meaning "not authenticated" (OpenCPS adds 203)."""
    extra_secrets: Iterable[str] = ()
    server_date: datetime | None = None
    """The `Date` header of the last response (for clock-skew checks)."""
    local_date: datetime | None = None
    run_started: float = field(default_factory=time.monotonic)
    """When the run began (`time.monotonic()`): the host opens its adapters, and so their clients, per run."""

    def __post_init__(self) -> None:
        for secret in url_secrets(self.base_url):
            register_secret(secret)
        parts = urlsplit(self.base_url)
        if not parts.path.endswith("/"):
            self.base_url = urlunsplit(parts._replace(path=parts.path + "/"))
        self.session = requests.Session()
        for prefix in ("http://", "https://"):
            self.session.mount(prefix, BoundedAdapter())
        self.env_ca_bundle: str | None = None
        if self.options.trust_env:  # read proxies (NO_PROXY honoured) and the CA bundle once, not per request
            self.session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
            self.env_ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        self.session.trust_env = False
        self.headers = {name: value.strip() for name, value in self.headers.items()}
        self.session.headers.update({"User-Agent": self.options.user_agent, "Accept": "application/json",
                                     "Accept-Encoding": ACCEPT_ENCODING})
        self.session.headers.update(self.headers)
        self.limiter = RateLimiter(self.options.rate_limit)
        opts = self.options
        self._retry_policy = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(opts.max_attempts) | tenacity.stop_after_delay(opts.max_retry_seconds),
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(_Retry),
            before_sleep=self._log_retry,
            reraise=True,
        )
        header_secrets = [v for k, v in self.headers.items() if SECRET_PARAM.search(k)]
        for secret in [*self.auth.secrets(), *self.extra_secrets, *header_secrets]:
            register_secret(secret)

    # -- redaction ----------------------------------------------------------------------------
    def redact(self, text: str) -> str:
        """`text` with every known secret masked (the one registry: :func:`isobridge.core.logs.redact`)."""
        for secret in self.auth.secrets():  # a token may be new since the last call
            register_secret(secret)
        return redact(text)

    def url(self, path: str) -> str:
        """Absolute URL of `path` (absolute URLs pass through)."""
        return urljoin(self.base_url, path.lstrip("/")) if "://" not in path else path

    # -- requests -----------------------------------------------------------------------------
    def request(self, method: str, path: str, *, params: dict | None = None, json: Any = None,
                headers: dict[str, str] | None = None, ok: Callable[[int], bool] | None = None,
                authenticate: bool = True, data: Any = None) -> requests.Response:
        """Send with retries; returns a response whose status `ok` accepts (2xx by default).

        A redirect answering a method other than GET/HEAD is an :class:`HttpError` whatever `ok` says.
        """
        return self._send(method, path, params, (json, data), headers, ok, authenticate, None)

    def get_json(self, path: str, params: dict | None = None, expected: str = "a JSON document",
                 **kwargs: Any) -> Any:
        """GET and decode JSON; a body that does not decode is retried, then MalformedResponse."""
        return self.request_json("GET", path, params=params, expected=expected, **kwargs)

    def request_json(self, method: str, path: str, *, params: dict | None = None, json: Any = None,
                     headers: dict[str, str] | None = None, ok: Callable[[int], bool] | None = None,
                     authenticate: bool = True, expected: str = "a JSON document", data: Any = None) -> Any:
        """Send with retries and return the decoded JSON body (`data`: a form body)."""
        return self._send(method, path, params, (json, data), headers, ok, authenticate, expected)

    def run_seconds_left(self) -> float:
        """Seconds left of the run's `max_run_seconds` (infinite without a limit)."""
        if not self.options.max_run_seconds:
            return float("inf")
        return self.options.max_run_seconds - (time.monotonic() - self.run_started)

    def _send(self, method, path, params, body, headers, ok, authenticate, expected):
        """One logical request: retries, plus one credential refresh after an auth refusal."""
        url = self.url(path)
        for secret in [*url_secrets(url), *(str(v) for k, v in (params or {}).items() if SECRET_PARAM.search(k))]:
            register_secret(secret)
        refreshed = False
        while True:
            try:
                return self._retrying(method, url, params, body, headers, ok, authenticate, expected)
            except AuthenticationError:
                if refreshed or not authenticate or not self.auth.refresh(self):
                    raise
                refreshed = True
                log.info("credentials refreshed for %s; retrying", redact_url(self.redact(url)))

    def _retrying(self, method, url, params, body, headers, ok, authenticate, expected):
        try:
            return self._retry_policy(self._once, method, url, params, body, headers, ok, authenticate, expected)
        except _Retry as final:
            raise final.error from None

    def _wait(self, state: tenacity.RetryCallState) -> float:
        opts = self.options
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retry) and exc.retry_after is not None:
            wait = min(exc.retry_after, opts.retry_after_max_seconds)
        else:
            wait = tenacity.wait_random_exponential(multiplier=opts.backoff_seconds,
                                                    max=opts.backoff_max_seconds)(state)
        return max(0.0, min(wait, self.run_seconds_left()))

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0
        log.warning("attempt %d failed (%s); retrying in %.2fs", state.attempt_number, exc, wait)

    def _deadline(self, method: str, shown: "_Shown") -> Deadline:
        """The wall-clock limit of the next attempt; HttpUnavailable once the run's time is up."""
        left = self.run_seconds_left()
        if left <= 0:
            raise HttpUnavailable(f"{method} {shown()}: the run's time limit (http.max_run_seconds ="
                                  f" {self.options.max_run_seconds:g} s) has passed; the run stops and keeps"
                                  " its checkpoint", shown())
        if left < self.options.total_timeout:
            return Deadline(left, "run")
        return Deadline(self.options.total_timeout, "request")

    def _once(self, method, url, params, body, headers, ok, authenticate, expected):
        self.limiter.wait()
        shown = _Shown(self, method, url, params)
        send_headers = dict(headers or {})
        if authenticate:
            send_headers.update(self.auth.headers(self))
        verify: bool | str = str(self.options.ca_bundle) if self.options.ca_bundle else self.options.verify_tls
        if verify is True and self.env_ca_bundle:
            verify = self.env_ca_bundle
        deadline = self._deadline(method, shown)
        with deadline:
            try:
                response, content = self._exchange(method, url, params, body, send_headers, verify, shown)
            except HttpError:  # too many redirects: said already
                raise
            except Exception as exc:
                if deadline.expired:
                    raise self._too_slow(method, shown, deadline) from None
                raise self._failure(method, shown, exc) from None
        if deadline.expired:
            raise self._too_slow(method, shown, deadline)
        self._note_date(response)
        return self._judge(method, shown, response, content, ok, expected)

    def _exchange(self, method, url, params, body, headers, verify, shown):
        """Send, following redirects of GET/HEAD only, and read the body within its cap."""
        for _ in range(MAX_REDIRECTS + 1):
            response = self.session.request(
                method, url, params=params, json=body[0], data=body[1], headers=headers, verify=verify,
                timeout=(self.options.connect_timeout, self.options.read_timeout), stream=True,
                allow_redirects=False,
            )
            target = self.session.get_redirect_target(response)
            if target is None or method.upper() not in SAFE_METHODS:
                try:
                    return response, read_body(response, self.options.max_body_bytes)
                finally:
                    response.close()
            response.close()  # the body of a redirect is not read
            following = urljoin(response.url, target)
            if self.session.should_strip_auth(response.url, following):  # another host: no credentials
                headers = {k: v for k, v in headers.items()
                           if k.lower() != "authorization" and not SECRET_PARAM.search(k)}
                headers.update({k: None for k in self.session.headers if SECRET_PARAM.search(k)})  # None: not sent
            url, params = following, None
        raise HttpError(f"{method} {shown()}: more than {MAX_REDIRECTS} redirects", shown())

    def _too_slow(self, method, shown, deadline: Deadline) -> Exception:
        if deadline.reason == "run":
            return HttpUnavailable(f"{method} {shown()}: the run's time limit (http.max_run_seconds ="
                                   f" {self.options.max_run_seconds:g} s) passed during the request; the run"
                                   " stops and keeps its checkpoint", shown())
        return _Retry(HttpUnavailable(f"{method} {shown()}: no complete answer within {deadline.seconds:g}s"
                                      " (http.total_timeout; the server sends too slowly)", shown()))

    def _failure(self, method, shown, exc: Exception) -> Exception:
        """The typed error (or a retry) for an exception raised while sending or reading."""
        if isinstance(exc, BodyTooLarge):
            return ResponseTooLarge(f"{method} {shown()}: the body is larger than http.max_body_bytes ="
                                    f" {self.options.max_body_bytes} bytes (decoded); not read further", shown())
        if isinstance(exc, UnsupportedEncoding):
            return MalformedResponse(f"{method} {shown()}: the body is in an encoding the client does not"
                                     f" decode (Content-Encoding: {str(exc)[:40]})", shown())
        if isinstance(exc, requests.exceptions.SSLError):
            return HttpError(f"{method} {shown()}: TLS verification failed ({type(exc).__name__}); "
                             "set http.ca_bundle to the provincial CA", shown())
        if isinstance(exc, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)):
            return _Retry(HttpUnavailable(f"{method} {shown()}: {self._describe(exc)}", shown()))
        if isinstance(exc, requests.RequestException):  # a bad URL or header: trying again cannot help
            return HttpError(f"{method} {shown()}: the request could not be made ({type(exc).__name__}:"
                             f" {self.redact(str(exc))[:200]})", shown())
        if isinstance(exc, (urllib3.exceptions.HTTPError, zlib.error, OSError)):  # while reading the body
            return _Retry(HttpUnavailable(f"{method} {shown()}: {self._describe(exc)}", shown()))
        raise exc

    def _judge(self, method, shown, response, content, ok, expected):
        status = response.status_code
        if status in self.auth_statuses:
            raise AuthenticationError(
                f"{method} {shown()}: HTTP {status}: not authenticated (check the credentials)", shown(), status)
        if 300 <= status < 400 and method.upper() not in SAFE_METHODS:
            target = redact_url(self.redact(response.headers.get("Location", "")))
            raise HttpError(f"{method} {shown()}: HTTP {status} redirect to {target or 'nowhere'} not followed"
                            f" (a {method} is never re-sent elsewhere): set the final URL", shown(), status)
        if status == 429 or status >= 500:
            reason = self.redact(server_reason(response))
            error = HttpUnavailable(f"{method} {shown()}: HTTP {status} {reason}".rstrip(), shown(), status, reason)
            raise _Retry(error, parse_retry_after(response.headers.get("Retry-After")))
        if not (ok(status) if ok else 200 <= status < 300):
            reason = self.redact(server_reason(response))
            raise HttpError(f"{method} {shown()}: HTTP {status} {reason}".rstrip(), shown(), status, reason)
        if expected is None:
            return response
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError as exc:
            kind = "an empty body" if not content.strip() else f"a body that is not JSON ({exc})"
            raise _Retry(MalformedResponse(
                f"{method} {shown()}: expected {expected}, got {kind} "
                f"({len(content)} bytes, {response.headers.get('Content-Type', 'no content type')})",
                shown(), status)) from None

    def _describe(self, exc: Exception) -> str:
        name = type(exc).__name__
        if isinstance(exc, requests.ReadTimeout):
            return f"no response within {self.options.read_timeout}s ({name})"
        if isinstance(exc, requests.ConnectTimeout):
            return f"no connection within {self.options.connect_timeout}s ({name})"
        if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
            return f"no body bytes within {self.options.read_timeout}s ({name})"
        if isinstance(exc, (requests.exceptions.ChunkedEncodingError, urllib3.exceptions.ProtocolError)):
            return f"the body was cut off ({name})"
        if isinstance(exc, zlib.error):
            return f"the compressed body does not decode ({name})"
        return f"cannot connect ({name})"

    def _note_date(self, response: requests.Response) -> None:
        raw = getattr(response.raw, "headers", None)
        values = raw.getlist("Date") if hasattr(raw, "getlist") else [response.headers.get("Date")]
        value = values[-1] if values else None
        if not value:
            return
        try:
            moment = parsedate_to_datetime(value)
            self.server_date = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
            self.local_date = datetime.now(timezone.utc)
        except (TypeError, ValueError):
            pass

    def clock_skew_seconds(self) -> float | None:
        """Server clock minus local clock at the last response (HTTP Date, 1 s resolution)."""
        if self.server_date is None or self.local_date is None:
            return None
        return round((self.server_date - self.local_date).total_seconds(), 1)

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()

    def __repr__(self) -> str:
        return f"HttpClient(base_url={redact_url(self.base_url)!r})"


def check_reachability(http: HttpClient, probe: Callable[[], Any], **extra: Any) -> CheckResult:
    """Run a cheap authenticated request and say: reachable, authenticated, permitted, clock skew."""
    details: dict[str, Any] = {"reachable": False, "authenticated": False, "permissions": False}
    try:
        answer = probe()  # False: reached but not allowed; a dict: more details
        details.update(reachable=True, authenticated=True, permissions=answer is not False)
        if isinstance(answer, dict):
            details.update(answer)
        ok, message = True, "ok"
    except AuthenticationError as exc:
        details["reachable"] = True
        ok, message = False, str(exc)
    except HttpError as exc:
        details["reachable"] = exc.status is not None
        details["authenticated"] = exc.status == 403
        ok, message = False, str(exc)
    details["clock_skew_seconds"] = http.clock_skew_seconds()
    details.update(extra)
    return CheckResult(ok, message, details)
