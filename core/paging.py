"""Guards every paging loop shares: a page seen before, or too many pages, ends the listing.

A server that ignores the paging parameters (answers every page with the first one) or cycles
(A, B, A, B) would make a naive loop run forever. :class:`PageGuard` remembers a digest of each
page's content and raises :class:`RepeatedPage` (an :class:`UnavailableError`: the run stops
with a clear reason and keeps its checkpoint) on the first repeat or past `max_pages`.
"""

from __future__ import annotations

import hashlib

import orjson

from .errors import UnavailableError

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
