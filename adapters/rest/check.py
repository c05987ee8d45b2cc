"""`isobridge mapping check`: vendor codes seen in a sample that the mapping does not cover."""

from __future__ import annotations

from collections import Counter
from typing import Protocol

from isobridge.core.adapters import RawRecord


class MappedSource(Protocol):
    """A source whose records can be checked against its mapping."""

    def pages(self, cursor: str | None):
        """Pages of raw records, as every source has."""

    def unmapped(self, record: RawRecord) -> set[tuple[str, str]]:
        """(category, vendor code) pairs of one record with no mapping."""


def unmapped_codes(source: MappedSource, sample_size: int = 500) -> dict[tuple[str, str], int]:
    """Pull up to `sample_size` records from the start and count unmapped (category, code) pairs.

    Categories: `status` (vendor status, `status/sub-status` where there is one) and `step`
    (`procedure:vendor step`). The result is sorted by category and code.
    """
    counts: Counter[tuple[str, str]] = Counter()
    seen = 0
    for page in source.pages(None):
        for record in page.records:
            counts.update(source.unmapped(record))
            seen += 1
            if seen >= sample_size:
                return dict(sorted(counts.items()))
    return dict(sorted(counts.items()))
