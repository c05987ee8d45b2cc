"""Bounds of one HTTP exchange: a wall-clock deadline and a cap on the body's decoded bytes.

Socket timeouts bound each read, not the exchange: a server sending a byte a second never trips
them. :class:`Deadline` is a timer that, when the time is up, shuts the socket of the request in
flight down (the connection classes below tell it which one), so the blocked read returns at once,
in the headers or in the body. :func:`read_body` reads a streamed response in chunks, decoding
gzip/deflate itself with a bounded output per step, and stops past `limit` bytes (raw or decoded):
an endless body or a gzip bomb costs at most about `limit` bytes of memory.
"""

from __future__ import annotations

import socket
import threading
import zlib
from collections.abc import Iterator
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


class Deadline:
    """A wall-clock limit of one attempt; a context manager (the timer runs inside the block)."""

    def __init__(self, seconds: float, reason: str):
        self.seconds, self.reason = max(seconds, 0.0), reason
        self.expired = False
        self._sockets: list[Any] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(self.seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> "Deadline":
        _local.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        _local.deadline = None
        with self._lock:
            self._sockets.clear()

    def attach(self, sock: Any) -> None:
        """A socket now carrying the request (shut down at once when the time is already up)."""
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _cut(sock)

    def _expire(self) -> None:
        with self._lock:
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
