"""Fault injection over pytest-httpserver, and the HTTP parts of the contract suites.

A test class's fake server registers its normal (permanent) handlers on `httpserver`; the
:class:`FaultInjector` puts handlers in front of them: one-shot ones (pytest-httpserver answers
one-shot handlers first) so the next requests fail in a chosen way and the rest pass through, or
hostile ones answering every request: a redirect on writes, an HTML login page with 200, a body
trickled a byte at a time, an endless body, a gzip bomb, listing pages cycling A, B, A, B. The
hostile bodies are real bytes on the fake server's socket, each bounded in time on the server side.
"""

from __future__ import annotations

import functools
import re
import signal
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest

from isobridge.core.adapters import SinkUnavailable, WriteResult
from isobridge.core.errors import UnavailableError

from ._support import sample_evidence
from .sink import SinkContract
from .source import SourceContract

ANY = re.compile(".*")
REDIRECT_TARGET = "/kit-sso/login"
LOGIN_PAGE = (b"<!DOCTYPE html><html><head><title>\xc4\x90\xc4\x83ng nh\xe1\xba\xadp</title></head><body>"
              b"<form method='post' action='/kit-sso/login'><input name='username'><input name='password'"
              b" type='password'></form></body></html>")
"""An SSO login page (Vietnamese title "Đăng nhập"), as a proxy in front of an API answers."""
STREAM_SECONDS = 30.0
"""No hostile stream lasts longer on the server side, even if the client never lets go."""
STREAM_BYTES = 256 << 20
"""Nor sends more (an unbounded client fails the memory check, not the machine)."""
BOMB_MIB = 256
"""The kit's gzip bomb unpacks to this many MiB (from about 260 KB)."""


class KitTimeout(AssertionError):
    """The adapter did not stop within the kit's time limit (it hangs on a hostile server)."""


@contextmanager
def time_limit(seconds: float, what: str) -> Iterator[None]:
    """Fail with :class:`KitTimeout` if the block runs longer than `seconds` (main thread, POSIX)."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(signum: int, frame: Any) -> None:
        raise KitTimeout(f"{what}: still running after {seconds:g}s; the adapter hangs on a hostile server")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _stream(pieces: Iterator[bytes], stop: threading.Event, interval: float = 0.0) -> Iterator[bytes]:
    """`pieces` until `stop` is set, :data:`STREAM_SECONDS` pass or :data:`STREAM_BYTES` are sent
    (a client gone ends it too)."""
    ends, sent = time.monotonic() + STREAM_SECONDS, 0
    for piece in pieces:
        sent += len(piece)
        if stop.is_set() or time.monotonic() > ends or sent > STREAM_BYTES:
            return
        yield piece
        if interval:
            stop.wait(interval)


def _forever(piece: bytes) -> Iterator[bytes]:
    while True:
        yield piece


@functools.lru_cache(maxsize=4)
def gzip_bomb(decoded_mib: int = 1024) -> bytes:
    """A gzip body of `decoded_mib` MiB of zeros (about 1 KiB per MiB: 1 GiB in about 1 MB)."""
    block = bytes(1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    first = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeat = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)  # a full flush resets the state
    last = compressor.flush()[:-8]  # the final block, without the trailer of two blocks
    crc = 0
    for _ in range(decoded_mib):
        crc = zlib.crc32(block, crc)
    trailer = struct.pack("<II", crc, (decoded_mib << 20) & 0xFFFFFFFF)
    return first + repeat * (decoded_mib - 1) + last + trailer


def hostile_response(kind: str, stop: threading.Event, interval: float = 0.25) -> Any:
    """A werkzeug response of one hostile kind: `html`, `trickle`, `endless` or `gzip-bomb`."""
    from werkzeug import Response

    if kind == "html":
        return Response(LOGIN_PAGE, 200, content_type="text/html; charset=utf-8")
    if kind == "trickle":
        body = _stream((bytes([b]) for b in b'{"data": [' + b" " * 100_000), stop, interval)
        return Response(body, 200, content_type="application/json", direct_passthrough=True)
    if kind == "endless":
        body = _stream(_forever(b'{"code": "H40.22-250701-0007", "note": "' + b"x" * 8000 + b'"},'), stop)
        return Response(_prefixed(b'{"data": [', body), 200, content_type="application/json",
                        direct_passthrough=True)
    if kind == "gzip-bomb":
        bomb = gzip_bomb(BOMB_MIB)
        pieces = _stream(iter([bomb[i:i + 65536] for i in range(0, len(bomb), 65536)]), stop)
        return Response(pieces, 200, content_type="application/json", direct_passthrough=True,
                        headers={"Content-Encoding": "gzip"})
    raise ValueError(f"unknown hostile kind {kind!r}")


def _prefixed(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


@dataclass
class Exchange:
    """One request the fake server saw: method, path with query, answer status, when."""

    method: str
    target: str
    status: int
    at: float = 0.0


@dataclass
class FaultInjector:
    """Makes the next requests to a pytest-httpserver fail (5xx, 429, 4xx), or every one hostile."""

    server: Any
    stamps: dict[int, float] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    """Set at the end of a test: ends every hostile stream still running."""
    front: list[Any] = field(default_factory=list)
    """The handlers :meth:`in_front` put before the fake system's."""
    repeats: int = 0
    """Pages :meth:`cycle_pages` answered with a page served before."""

    def fail_next(self, status: int, times: int = 1, headers: dict[str, str] | None = None, body: str = "") -> None:
        """The next `times` requests (any path) are answered with `status`."""
        from werkzeug import Response

        def fault(request):
            self.stamps[len(self.server.log)] = time.monotonic()
            return Response(body or f"injected {status}", status=status, headers=headers or {})
        for _ in range(times):
            self.server.expect_oneshot_request(ANY).respond_with_handler(fault)

    def _pass(self, request: Any) -> Any:
        """The answer of the fake system's own handlers (not the injected ones in front)."""
        for handler in self.server.handlers:
            if handler not in self.front and handler.matcher.match(request):
                return handler.respond(request)
        return self.server.respond_nohandler(request)

    def stamp_next(self) -> None:
        """The next request passes through to the normal handlers, and its arrival time is kept."""
        def passthrough(request):
            self.stamps[len(self.server.log)] = time.monotonic()
            return self._pass(request)
        self.server.expect_oneshot_request(ANY).respond_with_handler(passthrough)

    def down(self, status: int = 503) -> None:
        """Every request from now on is answered with `status`."""
        self.server.clear_all_handlers()
        self.server.expect_request(ANY).respond_with_data(f"injected {status}", status=status)

    def in_front(self, answer: Callable[[Any], Any]) -> None:
        """Every request from now on goes to `answer` first (it may pass it on with :meth:`_pass`)."""
        from pytest_httpserver.httpserver import RequestHandler

        handler = RequestHandler(self.server.create_matcher(ANY))
        handler.respond_with_handler(answer)
        self.server.handlers.insert(0, handler)
        self.front.append(handler)

    def hostile(self, kind: str, writes_only: bool = False) -> None:
        """Every request (or every write) is answered with a hostile response (see :func:`hostile_response`)."""
        def answer(request):
            if writes_only and request.method in ("GET", "HEAD"):
                return self._pass(request)
            return hostile_response(kind, self.stop)
        self.in_front(answer)

    def redirect_writes(self, status: int = 302, location: str = REDIRECT_TARGET) -> None:
        """Every request other than GET/HEAD is redirected to an SSO login page answering 200."""
        from werkzeug import Response

        def answer(request):
            if request.path == location:
                return hostile_response("html", self.stop)
            if request.method in ("GET", "HEAD"):
                return self._pass(request)
            return Response("", status, headers={"Location": location})
        self.in_front(answer)

    def cycle_pages(self, period: int = 2) -> None:
        """GET answers repeat per path: with period 2 pages go A, B, A, B (a cycling server); with
        period 1 every page is the first (a server ignoring the paging parameters)."""
        pages: dict[str, list[tuple[bytes, Any]]] = {}
        served: dict[str, int] = {}

        def answer(request):
            if request.method != "GET":
                return self._pass(request)
            seen = pages.setdefault(request.path, [])
            if len(seen) < period and all(query != request.query_string for query, _ in seen):
                response = self._pass(request)
                seen.append((request.query_string, (response.get_data(), response.status_code,
                                                    dict(response.headers))))
                return response
            from werkzeug import Response

            number = served[request.path] = served.get(request.path, -1) + 1
            self.repeats += 1
            data, status, headers = seen[number % len(seen)][1]
            return Response(data, status, headers=headers)
        self.in_front(answer)

    def exchanges(self) -> list[Exchange]:
        """What the server saw, in order."""
        seen = []
        for index, (request, response) in enumerate(self.server.log):
            target = request.full_path.rstrip("?")
            seen.append(Exchange(request.method, target, response.status_code, self.stamps.get(index, 0.0)))
        return seen

    def after(self, status: int) -> tuple[Exchange, list[Exchange]]:
        """The first exchange answered with `status` and the exchanges after it."""
        seen = self.exchanges()
        for index, exchange in enumerate(seen):
            if exchange.status == status:
                return exchange, seen[index + 1:]
        pytest.fail(f"no request was answered with the injected {status}", pytrace=False)


@contextmanager
def memory_peak(limit: int, what: str) -> Iterator[None]:
    """Fail if Python allocations (the whole process) peak above `limit` bytes in the block."""
    import gc
    import tracemalloc

    gc.collect()
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        yield
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        if started:
            tracemalloc.stop()
    assert peak <= limit, (f"{what}: {peak >> 20} MiB held at the peak (limit {limit >> 20} MiB): the adapter reads"
                           " bodies without a bound (use isobridge.core.http.HttpClient, or cap decoded bytes)")


HOSTILE_HTTP = {"total_timeout": 1.0, "max_body_bytes": 1 << 20, "max_attempts": 2, "max_retry_seconds": 2.0,
                "backoff_seconds": 0.01, "backoff_max_seconds": 0.05}
"""`http` options the hostile checks merge into the adapter's (short limits keep them fast)."""


class HostileChecks:
    """What the source and sink suites share for hostile servers."""

    hostile_time_limit: ClassVar[float] = 30.0
    """Seconds an adapter may take to give up on a hostile server before the check fails."""
    hostile_memory_limit: ClassVar[int] = 96 << 20
    """Bytes the process may hold at the peak while an adapter faces an endless body or a gzip bomb."""

    @pytest.fixture
    def faults(self, httpserver) -> Iterator[FaultInjector]:
        """The fault injector over the test's `httpserver` (its hostile streams end with the test)."""
        injector = FaultInjector(httpserver)
        yield injector
        injector.stop.set()

    def hostile_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """`options` with short HTTP limits (:data:`HOSTILE_HTTP` merged into `http`, when the
        adapter's options have an `http` table). Override it for an adapter configured otherwise."""
        fields = getattr(self.adapter.Options, "model_fields", {})  # type: ignore[attr-defined]
        if "http" not in fields:
            return options
        return {**options, "http": {**(options.get("http") or {}), **HOSTILE_HTTP}}


class HttpSourceContract(HostileChecks, SourceContract):
    """The source suite plus resilience checks against a fault-injected fake server.

    The test class's `options` fixture points the source at `httpserver` (pytest-httpserver) and
    sets short backoffs; its fake server fixture registers handlers serving the sample data.
    """

    retry_after_seconds: ClassVar[int] = 1
    max_requests_when_down: ClassVar[int] = 30

    def test_retries_5xx_then_reads_everything(self, options, faults):
        """Contract: retries 5xx then reads everything."""
        baseline = self.pull(options).counted()
        faults.fail_next(503, times=2)
        assert self.pull(options).counted() == baseline, "a 503 twice changed what was read"
        failed, later = faults.after(503)
        assert later and (later[0].method, later[0].target) == (failed.method, failed.target), (
            f"{failed.method} {failed.target} was not retried after a 503")

    def test_honours_retry_after_on_429(self, options, faults):
        """Contract: honours retry after on 429."""
        baseline = self.pull(options).counted()
        faults.fail_next(429, headers={"Retry-After": str(self.retry_after_seconds)})
        faults.stamp_next()
        assert self.pull(options).counted() == baseline, "a 429 changed what was read"
        failed, later = faults.after(429)
        assert later and later[0].target == failed.target, f"{failed.target} was not retried after a 429"
        waited = later[0].at - failed.at
        assert waited >= self.retry_after_seconds * 0.9, (
            f"retried {waited:.2f}s after a 429 with Retry-After: {self.retry_after_seconds}")

    def test_no_retry_on_4xx(self, options, faults):
        """Contract: no retry on 4xx."""
        faults.fail_next(400)
        with pytest.raises(Exception) as raised:
            self.pull(options)
        assert not isinstance(raised.value, AssertionError), f"the suite failed instead: {raised.value}"
        failed, later = faults.after(400)
        repeats = [e for e in later if (e.method, e.target) == (failed.method, failed.target)]
        assert not repeats, f"{failed.method} {failed.target} answered 400 was sent again {len(repeats)} time(s)"

    def test_gives_up_when_the_server_stays_down(self, options, faults):
        """Contract: gives up when the server stays down."""
        faults.down(503)
        with pytest.raises(Exception) as raised:
            self.pull(options)
        assert not isinstance(raised.value, AssertionError), f"the suite failed instead: {raised.value}"
        count = len(faults.exchanges())
        assert count <= self.max_requests_when_down, f"{count} requests to a server that stays down: a retry storm"
        result = self.open(options).check()
        assert not result.ok, "check() says ok while the server answers 503 to everything"

    # -- hostile servers --------------------------------------------------------------------------
    def pull_hostile(self, options: dict[str, Any], what: str) -> BaseException:
        """Pull with short HTTP limits within the time limit; returns the UnavailableError it ended with."""
        with time_limit(self.hostile_time_limit, what), pytest.raises(Exception) as raised:
            self.pull(self.hostile_options(options))
        if isinstance(raised.value, AssertionError):
            raise raised.value
        assert isinstance(raised.value, UnavailableError), (
            f"{what}: the pull ended with {type(raised.value).__name__}: {raised.value} — it must raise an"
            " UnavailableError (the run stops and keeps its checkpoint)")
        return raised.value

    def test_html_login_page_is_not_data(self, options, faults):
        """Contract: an HTML login page answered with 200 stops the pull (it is not an empty listing)."""
        faults.hostile("html")
        self.pull_hostile(options, "every answer an HTML login page with 200")

    def test_never_follows_a_redirect_on_a_write(self, options, faults):
        """Contract: a redirect answering a POST (a login) is an error; the write is not re-sent."""
        faults.redirect_writes(302)
        try:
            with time_limit(self.hostile_time_limit, "a redirect on every write"):
                self.pull(self.hostile_options(options))
            failure: BaseException | None = None
        except AssertionError:
            raise
        except Exception as exc:
            failure = exc
        if not any(e.method not in ("GET", "HEAD") for e in faults.exchanges()):
            pytest.skip("the adapter sends no writes (POST, PUT…) while pulling")
        assert isinstance(failure, UnavailableError), (
            f"a write answered with a redirect: the pull ended with {failure!r}, not an UnavailableError")
        followed = [e for e in faults.exchanges() if e.target.startswith(REDIRECT_TARGET)]
        assert not followed, f"the redirect of a write was followed: {followed[0].method} {followed[0].target}"

    def test_trickling_server_is_cut_off(self, options, faults):
        """Contract: a server sending a byte at a time is given up on (wall-clock limit per request)."""
        faults.hostile("trickle")
        self.pull_hostile(options, "a server trickling one byte every 0.25 s")

    def test_endless_body_is_cut_off(self, options, faults):
        """Contract: a body that never ends is cut off at the byte cap, in bounded memory."""
        faults.hostile("endless")
        with memory_peak(self.hostile_memory_limit, "an endless body"):
            self.pull_hostile(options, "an endless body")

    def test_gzip_bomb_is_cut_off(self, options, faults):
        """Contract: a gzip body of 260 KB unpacking to 256 MiB is cut off at the cap of decoded bytes."""
        faults.hostile("gzip-bomb")
        with memory_peak(self.hostile_memory_limit, "a gzip bomb"):
            self.pull_hostile(options, "a gzip bomb")

    @pytest.mark.parametrize("period", [1, 2], ids=["ignores-paging", "cycles-A-B"])
    def test_cycling_pages_end_with_an_error(self, options, faults, period):
        """Contract: a listing whose pages repeat (paging parameters ignored, or A, B, A, B) ends
        with an UnavailableError (`isobridge.core.paging.RepeatedPage`), not a loop or a silent re-read."""
        faults.cycle_pages(period)
        what = f"listing pages repeating with period {period}"
        failure: BaseException | None = None
        try:
            with time_limit(self.hostile_time_limit, what):
                self.pull(self.hostile_options(options))
        except AssertionError:
            raise
        except Exception as exc:
            failure = exc
        if not faults.repeats and failure is None:
            pytest.skip("the adapter pages no listing (no GET asked twice for one path)")
        failed = [e for e in faults.exchanges() if e.status >= 500]
        assert not failed, f"the fake server failed ({failed[0].status} for {failed[0].target}): not a cycling check"
        assert failure is not None, (
            f"{what}: the pull ended normally after {faults.repeats} repeated page(s) — it read a page twice"
            " or dropped the rest silently; check each page with isobridge.core.paging.PageGuard")
        assert isinstance(failure, UnavailableError), (
            f"{what}: the pull ended with {type(failure).__name__}: {failure} — it must raise an UnavailableError")

class HttpSinkContract(HostileChecks, SinkContract):
    """The sink suite plus resilience checks against a fault-injected fake server."""

    def test_retries_5xx_and_delivers_once(self, options, delivered, faults, ledger_path):
        """Contract: retries 5xx and delivers once."""
        faults.fail_next(503)
        batch = sample_evidence(3)
        sink = self.open(options, ledger_path=ledger_path)
        try:
            result = self.write(sink, batch)
        finally:
            sink.close()
        assert set(result.accepted) == {i.key for i in batch}
        self.assert_once(delivered(), [i.key for i in batch])

    def test_unavailable_when_the_server_stays_down(self, options, faults, ledger_path):
        """Contract: unavailable when the server stays down."""
        faults.down(503)
        sink = self.open(options, ledger_path=ledger_path)
        try:
            with pytest.raises(SinkUnavailable):
                sink.write(sample_evidence(2))
        finally:
            sink.close()

    # -- hostile servers --------------------------------------------------------------------------
    def write_hostile(self, options: dict[str, Any], ledger_path, what: str) -> WriteResult | None:
        """Write a batch with short HTTP limits within the time limit: it must raise SinkUnavailable
        (or another UnavailableError) or acknowledge nothing; None when it raised."""
        batch = sample_evidence(3)
        sink = self.open(self.hostile_options(options), ledger_path=ledger_path)
        try:
            with time_limit(self.hostile_time_limit, what):
                result = sink.write(batch)
        except AssertionError:
            raise
        except UnavailableError:
            return None
        except Exception as exc:
            pytest.fail(f"{what}: write() raised {type(exc).__name__}: {exc} — it must raise SinkUnavailable",
                        pytrace=False)
        finally:
            sink.close()
        assert not result.accepted and not result.rejected, (
            f"{what}: acknowledged {sorted(result.accepted)[:3]}, rejected {sorted(result.rejected)[:3]} —"
            " nothing proves the endpoint stored (or refused) them; they must stay pending")
        return result

    @pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
    def test_redirect_on_post_acknowledges_nothing(self, options, delivered, faults, ledger_path, status):
        """Contract: a redirect answering the POST is not followed and acknowledges nothing."""
        faults.redirect_writes(status)
        self.write_hostile(options, ledger_path, f"a POST answered with {status}")
        followed = [e for e in faults.exchanges() if e.target.startswith(REDIRECT_TARGET)]
        assert not followed, f"the redirect was followed: {followed[0].method} {followed[0].target}"
        assert delivered() == []

    def test_html_200_acknowledges_nothing(self, options, delivered, faults, ledger_path):
        """Contract: an SSO login page answered with 200 is not a delivery."""
        faults.hostile("html")
        self.write_hostile(options, ledger_path, "an HTML login page with 200")
        assert delivered() == []

    @pytest.mark.parametrize("kind", ["trickle", "endless", "gzip-bomb"])
    def test_hostile_answer_is_cut_off(self, options, faults, ledger_path, kind):
        """Contract: a trickled, endless or gzip-bomb answer is cut off and acknowledges nothing."""
        faults.hostile(kind)
        with memory_peak(self.hostile_memory_limit, f"a {kind} answer"):
            self.write_hostile(options, ledger_path, f"a {kind} answer")
