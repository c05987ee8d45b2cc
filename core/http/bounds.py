"""Bounds of the HTTP exchanges: a rate limit, a wall-clock deadline, a cap on the body's decoded bytes.

A :class:`RateLimiter` spaces the requests to one source.

Socket timeouts bound each read, not the exchange: a server sending a byte a second never trips
them. A :class:`Deadline`, when its time is up, shuts the sockets of the request in flight down (the
connection classes below tell it which ones; one watchdog thread serves every deadline), so the
blocked read returns at once, in the headers or in the body. :func:`read_body` reads a streamed
response in chunks, decoding gzip/deflate itself with a bounded output per step, and stops past
`limit` bytes (raw or decoded): an endless body or a gzip bomb costs at most about `limit` bytes of
memory.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import requests
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

CHUNK = 64 * 1024
ACCEPT_ENCODING = "gzip, deflate"
"""The encodings :func:`read_body` decodes (sent as `Accept-Encoding`)."""

_local = threading.local()


class BodyTooLarge(Exception):
    """The body passed the byte cap."""


class UnsupportedEncoding(Exception):
    """The body is in a content encoding the client does not decode."""


class _Watchdog:
    """One thread for every deadline of the process: it sleeps until the earliest one is due."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, "Deadline"]] = []
        self._ready = threading.Condition()
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: "Deadline") -> None:
        """Fire `deadline` when it is due (unless it is over by then)."""
        with self._ready:
            while self._heap and self._heap[0][2].over:  # finished ones on top: most are, drop them now
                heapq.heappop(self._heap)
            heapq.heappush(self._heap, (deadline.due, next(self._order), deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="isobridge-http-deadlines", daemon=True)
                self._thread.start()
            if self._heap[0][2] is deadline:
                self._ready.notify()

    def _run(self) -> None:
        with self._ready:
            while True:
                while self._heap and self._heap[0][2].over:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._ready.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._ready.wait(wait)
                    continue
                heapq.heappop(self._heap)[2].expire()


_WATCHDOG = _Watchdog()


class Deadline:
    """A wall-clock limit of one attempt; a context manager (it is watched inside the block)."""

    def __init__(self, seconds: float, reason: str):
        self.seconds, self.reason = max(seconds, 0.0), reason
        self.due = time.monotonic() + self.seconds
        self.expired = self.over = False
        self._sockets: list[Any] = []
        self._lock = threading.Lock()

    def __enter__(self) -> "Deadline":
        self._outer = getattr(_local, "deadline", None)
        _local.deadline = self
        _WATCHDOG.watch(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _local.deadline = self._outer
        with self._lock:
            self.over = True
            self._sockets.clear()

    def attach(self, sock: Any) -> None:
        """A socket now carrying the request (shut down at once when the time is already up)."""
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _cut(sock)

    def expire(self) -> None:
        """The time is up: shut down every socket of the attempt (called by the watchdog)."""
        with self._lock:
            if self.over:
                return
            self.expired = True
            for sock in self._sockets:
                _cut(sock)


def _cut(sock: Any) -> None:
    """Shut a socket down so a read blocked on it returns (called from the timer's thread)."""
    try:
        if isinstance(sock, socket.socket):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain call, also for a TLS socket
        else:
            sock.close()
    except OSError:  # closed already, or detached when TLS wrapped it
        pass


def _watch(sock: Any) -> None:
    deadline = getattr(_local, "deadline", None)
    if deadline is not None and sock is not None:
        deadline.attach(sock)


class _Watched:
    """Tells the thread's deadline every socket a connection opens or reuses for a request."""

    sock: Any

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()  # type: ignore[misc]
        _watch(sock)  # the TCP socket, before a TLS handshake wraps it
        return sock

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _watch(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self.sock)  # a kept-alive connection: its socket is reused
        super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedTLSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


POOL_CLASSES = {"http": _WatchedPool, "https": _WatchedTLSPool}


class BoundedAdapter(requests.adapters.HTTPAdapter):
    """A requests transport whose connections a :class:`Deadline` can cut."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """The pool manager, with watched connection pools."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(POOL_CLASSES)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        """The proxy manager, with watched connection pools (SOCKS proxies keep their own)."""
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(POOL_CLASSES)
        return manager


class _Decoder:
    """Decodes a gzip/deflate body step by step, never producing more than asked per step."""

    def __init__(self, encoding: str):
        names = [name.strip().lower() for name in encoding.split(",") if name.strip()]
        names = [name for name in names if name != "identity"]
        if len(names) > 1 or (names and names[0] not in ("gzip", "x-gzip", "deflate")):
            raise UnsupportedEncoding(encoding)
        self.kind = names[0] if names else ""
        self._z = self._new() if self.kind else None
        self._first = True

    def _new(self) -> Any:
        return zlib.decompressobj(31 if self.kind != "deflate" else 15)

    def feed(self, data: bytes, room: int) -> Iterator[bytes]:
        """Decoded pieces of `data`, each at most `room` bytes."""
        if self._z is None:
            yield data
            return
        while True:
            try:
                piece = self._z.decompress(data, max(room, 1))
            except zlib.error:
                if not (self._first and self.kind == "deflate"):
                    raise
                self._z = zlib.decompressobj(-15)  # a raw deflate stream (servers disagree on "deflate")
                piece = self._z.decompress(data, max(room, 1))
            self._first = False
            data = self._z.unconsumed_tail
            if self._z.eof and self._z.unused_data.strip(b"\0"):
                data, self._z = self._z.unused_data, self._new()  # a gzip body of several members
            if piece:
                yield piece
            elif not data:
                return


def read_body(response: requests.Response, limit: int) -> bytes:
    """The whole body of a streamed response, decoded; BodyTooLarge past `limit` bytes.

    Both the bytes on the wire and the decoded bytes count: an endless body of empty deflate
    blocks stops as surely as a gzip bomb. The response keeps the body (`.content`, `.json()`).
    """
    if getattr(response, "_content_consumed", False):  # read already (a test recorder wraps the transport)
        return response.content
    decoder = _Decoder(response.headers.get("Content-Encoding", ""))
    parts: list[bytes] = []
    wire = total = 0
    while True:
        chunk = response.raw.read(CHUNK, decode_content=False)
        if not chunk:
            break
        wire += len(chunk)
        if wire > limit:
            raise BodyTooLarge(f"more than {limit} bytes")
        for piece in decoder.feed(chunk, min(CHUNK * 4, limit - total + 1)):
            total += len(piece)
            if total > limit:
                raise BodyTooLarge(f"more than {limit} bytes once decoded")
            parts.append(piece)
    body = b"".join(parts)
    response._content = body  # what requests' .content/.text/.json() read
    response._content_consumed = True
    return body


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
