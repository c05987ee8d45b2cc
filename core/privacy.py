"""Keyed pseudonyms for citizens' personal data (names, ID numbers, phones, addresses).

A pseudonym is an HMAC-SHA256 of the normalised value under a key from settings: the same
person gets the same pseudonym across sources and runs (repeat cases can still be counted),
and nobody without the key can reverse it or test a guess.
"""

from __future__ import annotations

import functools
import re
import hmac
import unicodedata

PERSONAL_FIELDS = frozenset({
    "applicant", "applicant_name", "applicant_id", "id_number", "phone", "email", "address",
})
"""Field names (in canonical records) that hold personal data and are pseudonymised."""
EVENT_PERSONAL_FIELDS = frozenset({"actor"})
"""Event fields naming a person (the officer who recorded it), pseudonymised too."""
PSEUDONYM = re.compile(r"p-[0-9a-f]{25}")
"""What a pseudonym looks like."""
_NAMES = "|".join(sorted(PERSONAL_FIELDS | EVENT_PERSONAL_FIELDS))
_PERSONAL_PAIR = re.compile(
    rf'"(?P<name>{_NAMES})"(?P<colon>\s*:\s*)'
    r'(?:"(?P<text>(?:[^"\\]|\\.)*)(?:"|\\?$)|(?P<number>-?[0-9][0-9.eE+-]*))')
"""A personal field and its value in JSON text, also a text value cut off by the end of the line."""


def normalise(value: str) -> str:
    """Normalise before hashing: Unicode NFC, case-folded, inner whitespace removed."""
    return "".join(unicodedata.normalize("NFC", value).casefold().split())


class Pseudonymizer:
    """Computes keyed pseudonyms; the key never leaves this object."""

    def __init__(self, key: str | bytes):
        if not key:
            raise ValueError("a pseudonymisation key is required")
        self._key = key.encode() if isinstance(key, str) else key

    def __repr__(self) -> str:
        return "Pseudonymizer(key=***)"

    def pseudonym(self, value: str | None) -> str | None:
        """`p-` followed by 25 hex digits (100 bits of the HMAC), or None for None/empty."""
        if value is None:
            return None
        return self._pseudonym(str(value))

    @functools.lru_cache(maxsize=65536)
    def _pseudonym(self, value: str) -> str | None:
        if not value.strip():
            return None
        if PSEUDONYM.fullmatch(value):
            return value  # already a pseudonym (a replayed record): idempotent
        return "p-" + hmac.digest(self._key, normalise(value).encode(), "sha256").hex()[:25]

    def scrub(self, record: dict) -> dict:
        """A copy of `record` with every personal field replaced by its pseudonym."""
        return {k: self.pseudonym(v) if k in PERSONAL_FIELDS else v for k, v in record.items()}

    def scrub_fragment(self, fragment: dict) -> dict:
        """Pseudonymise, in place, a case-log fragment's personal fields and its events' actors.

        Values that already are pseudonyms (`p-…`) are left alone, so scrubbing twice is harmless.
        """
        for key in PERSONAL_FIELDS.intersection(fragment):
            fragment[key] = self._once(fragment[key])
        events = fragment.get("events")
        if isinstance(events, list):
            once = self._once
            for event in events:
                if isinstance(event, dict):
                    actor = event.get("actor")  # the one event field naming a person, inlined
                    if actor is not None and not (type(actor) is str and actor[:2] == "p-"):
                        event["actor"] = once(actor)
        return fragment

    def scrub_text(self, text: str) -> str:
        """Best effort for JSON text that does not parse (a truncated line, a broken export):
        the value of every personal field found in it is replaced by its pseudonym, a text value
        cut off by the end of the line included."""
        return _PERSONAL_PAIR.sub(self._pair, text)

    def _pair(self, match: re.Match) -> str:
        value = match["text"] if match["text"] is not None else match["number"]
        if match["text"] is not None:
            value = value.replace('\\"', '"').replace("\\\\", "\\")
        return f'"{match["name"]}"{match["colon"]}"{self._once(value) or ""}"'

    def _once(self, value: object) -> str | None:
        if value is None or (isinstance(value, str) and value.startswith("p-")):
            return value  # type: ignore[return-value]
        return self.pseudonym(str(value))
