"""Fault injection over pytest-httpserver, and the HTTP parts of the contract suites.

A test class's fake server registers its normal (permanent) handlers on `httpserver`; the
:class:`FaultInjector` puts one-shot handlers in front of them (pytest-httpserver answers
one-shot handlers first), so the next requests fail in a chosen way and the rest pass through.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest

from isobridge.core.adapters import SinkUnavailable

from ._support import sample_evidence
from .sink import SinkContract
from .source import SourceContract

ANY = re.compile(".*")


@dataclass
class Exchange:
    """One request the fake server saw: method, path with query, answer status, when."""

    method: str
    target: str
    status: int
    at: float = 0.0


@dataclass
class FaultInjector:
    """Makes the next requests to a pytest-httpserver fail (5xx, 429, 4xx, or all of them)."""

    server: Any
    stamps: dict[int, float] = field(default_factory=dict)

    def fail_next(self, status: int, times: int = 1, headers: dict[str, str] | None = None, body: str = "") -> None:
        """The next `times` requests (any path) are answered with `status`."""
        from werkzeug import Response

        def fault(request):
            self.stamps[len(self.server.log)] = time.monotonic()
            return Response(body or f"injected {status}", status=status, headers=headers or {})
        for _ in range(times):
            self.server.expect_oneshot_request(ANY).respond_with_handler(fault)

    def stamp_next(self) -> None:
        """The next request passes through to the normal handlers, and its arrival time is kept."""
        def passthrough(request):
            self.stamps[len(self.server.log)] = time.monotonic()
            handler = self.server.handlers.match(request)
            if handler is None:
                return self.server.respond_nohandler(request)
            return handler.respond(request)
        self.server.expect_oneshot_request(ANY).respond_with_handler(passthrough)

    def down(self, status: int = 503) -> None:
        """Every request from now on is answered with `status`."""
        self.server.clear_all_handlers()
        self.server.expect_request(ANY).respond_with_data(f"injected {status}", status=status)

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


class HttpSourceContract(SourceContract):
    """The source suite plus resilience checks against a fault-injected fake server.

    The test class's `options` fixture points the source at `httpserver` (pytest-httpserver) and
    sets short backoffs; its fake server fixture registers handlers serving the sample data.
    """

    retry_after_seconds: ClassVar[int] = 1
    max_requests_when_down: ClassVar[int] = 30

    @pytest.fixture
    def faults(self, httpserver) -> FaultInjector:
        """The fault injector over the test's `httpserver`."""
        return FaultInjector(httpserver)

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


class HttpSinkContract(SinkContract):
    """The sink suite plus resilience checks against a fault-injected fake server."""

    @pytest.fixture
    def faults(self, httpserver) -> FaultInjector:
        """The fault injector over the test's `httpserver`."""
        return FaultInjector(httpserver)

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
