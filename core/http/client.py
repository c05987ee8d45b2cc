"""The one HTTP client every adapter uses: timeouts, bounded retries, rate limit, bounds, redaction.

Retries (exponential backoff with full jitter) cover connection errors, read timeouts, broken
or malformed bodies, 5xx and 429 (whose `Retry-After` is honoured); they stop after
`max_attempts` or `max_retry_seconds`. Other 4xx are final. Every attempt has a wall-clock
limit (`total_timeout`), every body a cap on its decoded bytes (`max_body_bytes`), every client a
run limit (`max_run_seconds` from its creation, i.e. the run's start). Redirects are followed for
GET and HEAD only (a write is never re-sent elsewhere). Errors are typed (:mod:`.errors`), name
the URL with query secrets masked, and never carry a secret (:func:`isobridge.core.logs.redact`).
"""

from __future__ import annotations

import logging
import os
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import orjson
import requests
import tenacity
import urllib3

from ..logs import redact, register_secret
from .auth import NoAuth
from .bounds import ACCEPT_ENCODING, BodyTooLarge, BoundedAdapter, Deadline, RateLimiter, UnsupportedEncoding, read_body
from .errors import (
    AuthenticationError, HttpError, HttpUnavailable, MalformedResponse, ResponseTooLarge, _Retry, parse_retry_after,
    server_reason,
)
from .options import HttpOptions
from .redaction import SECRET_PARAM, redact_url, url_secrets

log = logging.getLogger("isobridge.http")

SAFE_METHODS = frozenset({"GET", "HEAD"})
"""Methods whose redirects are followed; any other (a write) is never re-sent elsewhere."""
MAX_REDIRECTS = 10


@dataclass(slots=True)
class _Call:
    """One logical request as the caller asked for it (every attempt and redirect starts from it)."""

    method: str
    url: str
    params: dict | None
    json: Any
    data: Any
    headers: dict[str, str] | None
    ok: Callable[[int], bool] | None
    authenticate: bool
    expected: str | None
    """What the JSON body should be (for messages); None: the response itself is the answer."""
    shown: "_Shown" = field(init=False)

    def __post_init__(self) -> None:
        self.shown = _Shown(self.method, self.url, self.params)


class _Shown:
    """The request URL as shown in messages (secrets masked), built only when needed."""

    __slots__ = ("method", "url", "params", "text", "redact")

    def __init__(self, method: str, url: str, params: dict | None):
        self.method, self.url, self.params, self.text = method, url, params, ""
        self.redact: Callable[[str], str] = redact

    def __call__(self) -> str:
        if not self.text:
            full = requests.Request(self.method, self.url, params=self.params).prepare().url or self.url
            self.text = redact_url(self.redact(full))
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
        return self._send(_Call(method, self.url(path), params, json, data, headers, ok, authenticate, None))

    def get_json(self, path: str, params: dict | None = None, expected: str = "a JSON document",
                 **kwargs: Any) -> Any:
        """GET and decode JSON; a body that does not decode is retried, then MalformedResponse."""
        return self.request_json("GET", path, params=params, expected=expected, **kwargs)

    def request_json(self, method: str, path: str, *, params: dict | None = None, json: Any = None,
                     headers: dict[str, str] | None = None, ok: Callable[[int], bool] | None = None,
                     authenticate: bool = True, expected: str = "a JSON document", data: Any = None) -> Any:
        """Send with retries and return the decoded JSON body (`data`: a form body)."""
        return self._send(_Call(method, self.url(path), params, json, data, headers, ok, authenticate, expected))

    def run_seconds_left(self) -> float:
        """Seconds left of the run's `max_run_seconds` (infinite without a limit)."""
        if not self.options.max_run_seconds:
            return float("inf")
        return self.options.max_run_seconds - (time.monotonic() - self.run_started)

    def _send(self, call: _Call) -> Any:
        """One logical request: retries, plus one credential refresh after an auth refusal."""
        secrets = (str(v) for k, v in (call.params or {}).items() if SECRET_PARAM.search(k))
        for secret in [*url_secrets(call.url), *secrets]:
            register_secret(secret)
        call.shown.redact = self.redact
        refreshed = False
        while True:
            try:
                return self._retrying(call)
            except AuthenticationError:
                if refreshed or not call.authenticate or not self.auth.refresh(self):
                    raise
                refreshed = True
                log.info("credentials refreshed for %s; retrying", redact_url(self.redact(call.url)))

    def _retrying(self, call: _Call) -> Any:
        try:
            return self._retry_policy(self._once, call)
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

    def _deadline(self, call: _Call) -> Deadline:
        """The wall-clock limit of the next attempt; HttpUnavailable once the run's time is up."""
        method, shown = call.method, call.shown
        left = self.run_seconds_left()
        if left <= 0:
            raise HttpUnavailable(f"{method} {shown()}: the run's time limit (http.max_run_seconds ="
                                  f" {self.options.max_run_seconds:g} s) has passed; the run stops and keeps"
                                  " its checkpoint", shown())
        if left < self.options.total_timeout:
            return Deadline(left, "run")
        return Deadline(self.options.total_timeout, "request")

    def _once(self, call: _Call) -> Any:
        self.limiter.wait()
        send_headers = dict(call.headers or {})
        if call.authenticate:
            send_headers.update(self.auth.headers(self))
        verify: bool | str = str(self.options.ca_bundle) if self.options.ca_bundle else self.options.verify_tls
        if verify is True and self.env_ca_bundle:
            verify = self.env_ca_bundle
        deadline = self._deadline(call)
        with deadline:
            try:
                response, content = self._exchange(call, send_headers, verify)
            except HttpError:  # too many redirects: said already
                raise
            except Exception as exc:
                if deadline.expired:
                    raise self._too_slow(call, deadline) from None
                raise self._failure(call, exc) from None
        if deadline.expired:
            raise self._too_slow(call, deadline)
        self._note_date(response)
        return self._judge(call, response, content)

    def _exchange(self, call: _Call, headers: dict[str, str], verify: bool | str) -> tuple[requests.Response, bytes]:
        """Send, following redirects of GET/HEAD only, and read the body within its cap."""
        method, url, params = call.method, call.url, call.params
        for _ in range(MAX_REDIRECTS + 1):
            response = self.session.request(
                method, url, params=params, json=call.json, data=call.data, headers=headers, verify=verify,
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
        raise HttpError(f"{method} {call.shown()}: more than {MAX_REDIRECTS} redirects", call.shown())

    def _too_slow(self, call: _Call, deadline: Deadline) -> Exception:
        method, shown = call.method, call.shown
        if deadline.reason == "run":
            return HttpUnavailable(f"{method} {shown()}: the run's time limit (http.max_run_seconds ="
                                   f" {self.options.max_run_seconds:g} s) passed during the request; the run"
                                   " stops and keeps its checkpoint", shown())
        return _Retry(HttpUnavailable(f"{method} {shown()}: no complete answer within {deadline.seconds:g}s"
                                      " (http.total_timeout; the server sends too slowly)", shown()))

    def _failure(self, call: _Call, exc: Exception) -> Exception:
        """The typed error (or a retry) for an exception raised while sending or reading."""
        method, shown = call.method, call.shown
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

    def _judge(self, call: _Call, response: requests.Response, content: bytes) -> Any:
        """The answer (the response, or its decoded JSON), or the typed error its status means."""
        method, shown, ok, expected = call.method, call.shown, call.ok, call.expected
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


