"""Paging: one class per paging style, and the guard every listing shares.

Styles (model: dlt's `rest_client/paginators.py`): :class:`PageNumberPaging` (`page`/`size`),
:class:`OffsetPaging` (`offset`/`limit`), :class:`StartEndPaging` (`start`/`end`, OpenCPS),
:class:`NextLinkPaging` (the answer names the next page), :class:`AfterCursorPaging` (`after`/
`limit`, edXML endpoints) and :class:`SinglePage`. Each makes the next request's parameters from
the answers so far, knows its last page and keeps a position an adapter writes into its
checkpoint; :meth:`Paging.walk` is the loop. :func:`paging_for` picks one from a REST profile's
`paging.style`.

A server that ignores the paging parameters (answers every page with the first one) or cycles
(A, B, A, B) would make a naive loop run forever. :class:`PageGuard` remembers a digest of each
page's content and raises :class:`RepeatedPage` (an :class:`UnavailableError`: the run stops
with a clear reason and keeps its checkpoint) on the first repeat or past `max_pages`; every
style checks each page with it.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import orjson

from .errors import UnavailableError
from .http.errors import MalformedResponse

__all__ = [
    "DEFAULT_MAX_PAGES", "AfterCursorPaging", "Answer", "NextLinkPaging", "OffsetPaging", "PageGuard",
    "PageNumberPaging", "Paging", "RangePaging", "RepeatedPage", "SinglePage", "StartEndPaging", "paging_for",
]

DEFAULT_MAX_PAGES = 100_000
"""Pages one listing may take before it is judged endless."""


class RepeatedPage(UnavailableError):
    """A listing returned a page it had returned before, or never ended."""


class PageGuard:
    """Remembers the pages of one listing; `check` raises on a repeat or past the page limit."""

    def __init__(self, listing: str, max_pages: int = DEFAULT_MAX_PAGES):
        self.listing = listing
        self.max_pages = max_pages
        self._seen: dict[bytes, int] = {}

    def check(self, content: object) -> None:
        """Record one page (bytes, text or JSON-able items); raise if it was seen before."""
        number = len(self._seen) + 1
        if number > self.max_pages:
            raise RepeatedPage(f"{self.listing}: more than {self.max_pages} pages; stopped, checkpoint kept")
        digest = hashlib.blake2b(_bytes(content), digest_size=16).digest()
        first = self._seen.setdefault(digest, number)
        if first != number:
            raise RepeatedPage(f"{self.listing}: page {number} repeats page {first} (the server ignores"
                               " the paging parameters or cycles); stopped, checkpoint kept")


def _bytes(content: object) -> bytes:
    if isinstance(content, bytes):
        return content
    if isinstance(content, str):
        return content.encode()
    return orjson.dumps(content, option=orjson.OPT_SORT_KEYS, default=str)


@dataclass
class Answer:
    """What a paging style reads from one answer; the adapter takes these out of the body."""

    items: list
    total: int | None = None
    """The listing's record count, when the server says it (Spring `totalElements`, OpenCPS `total`)."""
    last: bool | None = None
    """The server's own "last page" flag (Spring `last`; `not has_more`)."""
    next: str | None = None
    """The next page's link (next-link style)."""


class Paging(ABC):
    """One listing's position in one paging style (model: dlt's `rest_client` paginators).

    `params()` are the next request's query parameters (`url`, when set, replaces the listing's
    path: a link the server gave); `advance(answer)` checks the page with the listing's
    :class:`PageGuard`, moves to the next page and sets `done` on the last one. The position
    attributes of each style are what an adapter writes into its checkpoint.
    """

    def __init__(self, guard: PageGuard):
        self.guard = guard
        self.done = False
        self.url: str | None = None

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """The paging parameters of the next request."""

    def advance(self, answer: Answer) -> Answer:
        """Take one answer: check it, move on, set `done` on the last page; returns the answer."""
        if answer.items:
            self.guard.check(answer.items)
        self.done = self._ends(answer)
        self._move(answer)
        return answer

    def walk(self, fetch: Callable[["Paging"], Answer]) -> Iterator[Answer]:
        """Every answer of the listing, in order: `fetch` sends the request this paging describes."""
        while not self.done:
            yield self.advance(fetch(self))

    def _ends(self, answer: Answer) -> bool:
        """The last page: an empty one, the server's flag, else the style's own test."""
        if not answer.items:
            return True
        if isinstance(answer.last, bool):
            return answer.last
        return self._style_ends(answer)

    @abstractmethod
    def _style_ends(self, answer: Answer) -> bool:
        """The style's own last-page test."""

    @abstractmethod
    def _move(self, answer: Answer) -> None:
        """Move the position past this answer."""


class SinglePage(Paging):
    """A listing of one request (REST `style = "none"`): whatever the answer says, it is the last."""

    def params(self) -> dict[str, Any]:
        """No paging parameters."""
        return {}

    def _ends(self, answer: Answer) -> bool:
        return True

    def _style_ends(self, answer: Answer) -> bool:
        return True

    def _move(self, answer: Answer) -> None:
        pass


class RangePaging(Paging):
    """Pages of `size` records at a position counted in records; the last page is the one
    reaching `total`, else a short one."""

    def __init__(self, guard: PageGuard, size: int, offset: int = 0):
        super().__init__(guard)
        self.size, self.offset = size, offset

    def _style_ends(self, answer: Answer) -> bool:
        if isinstance(answer.total, int):
            return self.offset + self.size >= answer.total
        return len(answer.items) < self.size

    def _move(self, answer: Answer) -> None:
        self.offset += self.size


class PageNumberPaging(RangePaging):
    """`?page=N&size=S`: pages numbered from `first_page`; the position is the number of pages read."""

    def __init__(self, guard: PageGuard, size: int, page: int = 0, *, first_page: int = 0,
                 page_param: str = "page", size_param: str = "size"):
        super().__init__(guard, size, page * size)
        self.first_page, self.page_param, self.size_param = first_page, page_param, size_param

    @property
    def page(self) -> int:
        """Pages read so far."""
        return self.offset // self.size

    def params(self) -> dict[str, Any]:
        """The page number and size."""
        return {self.page_param: self.first_page + self.page, self.size_param: self.size}


class OffsetPaging(RangePaging):
    """`?offset=O&limit=S`: the position is the number of records read."""

    def __init__(self, guard: PageGuard, size: int, offset: int = 0, *, offset_param: str = "offset",
                 limit_param: str = "limit"):
        super().__init__(guard, size, offset)
        self.offset_param, self.limit_param = offset_param, limit_param

    def params(self) -> dict[str, Any]:
        """The offset and limit."""
        return {self.offset_param: self.offset, self.limit_param: self.size}


class StartEndPaging(RangePaging):
    """`?start=A&end=B` (Liferay, OpenCPS): records A to B-1; each request may re-read `overlap`
    records before its start (a record inserted meanwhile shifts the list, none is skipped; the
    adapter drops the duplicates). The position `offset` is where the next page starts."""

    def __init__(self, guard: PageGuard, size: int, offset: int = 0, *, overlap: int = 0,
                 start_param: str = "start", end_param: str = "end"):
        super().__init__(guard, size, offset)
        self.overlap, self.start_param, self.end_param = overlap, start_param, end_param

    def params(self) -> dict[str, Any]:
        """The start (less the overlap) and end."""
        return {self.start_param: max(0, self.offset - self.overlap), self.end_param: self.offset + self.size}


class NextLinkPaging(Paging):
    """Each answer names the next page's URL; the first request has `first` parameters. The
    link must stay on `base_url`'s server: credentials never go elsewhere."""

    def __init__(self, guard: PageGuard, base_url: str, first: dict[str, Any] | None = None,
                 url: str | None = None):
        super().__init__(guard)
        self.base_url, self.first = base_url, dict(first or {})
        self.url = url

    def params(self) -> dict[str, Any]:
        """The first request's parameters; none once a link is followed (the link carries them)."""
        return {} if self.url else self.first

    def _style_ends(self, answer: Answer) -> bool:
        return not answer.next

    def _move(self, answer: Answer) -> None:
        self.url = None if self.done else self._follow(answer.next)

    def _follow(self, link: object) -> str | None:
        if not link:
            return None
        url = urljoin(self.base_url, str(link))
        base, target = urlsplit(self.base_url), urlsplit(url)
        if (target.scheme, target.netloc) != (base.scheme, base.netloc):
            raise MalformedResponse(f"{self.guard.listing}: the next-page link leads to another server"
                                    f" ({target.scheme}://{target.netloc}); refused, the credentials stay here")
        return url


class AfterCursorPaging(Paging):
    """`?after=K&limit=S`: the records after key K, in key order; the position `after` is the key
    of the last record read. An answer longer than `limit` (the server ignores it) ending at the
    key asked after is a server ignoring both parameters: read already, the listing ends."""

    def __init__(self, guard: PageGuard, size: int, after: str | None = None, *,
                 key: Callable[[Any], str] = lambda item: str(item["id"]), after_param: str = "after",
                 limit_param: str = "limit"):
        super().__init__(guard)
        self.size, self.after, self.key = size, after, key
        self.after_param, self.limit_param = after_param, limit_param

    def params(self) -> dict[str, Any]:
        """The limit, and the key to read after (none at the start)."""
        return {self.limit_param: self.size} | ({self.after_param: self.after} if self.after else {})

    def advance(self, answer: Answer) -> Answer:
        """As :meth:`Paging.advance`; an answer read already ends the listing with no records."""
        if answer.items and len(answer.items) > self.size and self.key(answer.items[-1]) == self.after:
            self.done = True
            return Answer([])
        return super().advance(answer)

    def _style_ends(self, answer: Answer) -> bool:
        return len(answer.items) < self.size

    def _move(self, answer: Answer) -> None:
        if answer.items:
            self.after = self.key(answer.items[-1])


def paging_for(spec: Any, guard: PageGuard, *, page: int = 0, base_url: str = "",
               url: str | None = None) -> Paging:
    """The paging a REST profile's `[paging]` table describes (`style`, `size`, parameter names),
    resumed after `page` pages read (or at the link `url`, next-link style)."""
    size = spec.size
    if spec.style == "page":
        return PageNumberPaging(guard, size, page, first_page=spec.first_page, page_param=spec.page_param,
                                size_param=spec.size_param)
    if spec.style == "offset":
        return OffsetPaging(guard, size, page * size, offset_param=spec.offset_param, limit_param=spec.limit_param)
    if spec.style == "start_end":
        return StartEndPaging(guard, size, page * size, start_param=spec.start_param, end_param=spec.end_param)
    if spec.style == "next_link":  # the first page is asked as start/end, the others by their links
        first = {spec.start_param: page * size, spec.end_param: (page + 1) * size}
        return NextLinkPaging(guard, base_url, first, url)
    if spec.style == "none":
        return SinglePage(guard)
    raise ValueError(f"unknown paging style {spec.style!r}")
