"""Data minimisation at the edge of file sources: an allow-list of the case-log fields stored,
pseudonyms for everything else that could name a person, in fragments and in the quarantine.

Internal module: plugins import its public names from `isobridge.core` (the face).

* :func:`minimise_fragment` keeps only the canonical fields (the dossier code, the header fields
  of :data:`~isobridge.core.merge.HEADER_FIELDS`, events with their fields of
  :data:`EVENT_FIELDS`) and the personal fields as pseudonyms; any other field never leaves the
  source.
* :func:`scrub_value` is the quarantine's view of a JSON record that could not be mapped: the
  same fields in clear, every other value (however nested) replaced by its pseudonym.
* :func:`scrub_line` does the same for text that is not JSON (a truncated or garbled line):
  token by token, a value stays in clear only where its field is known to be safe.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .merge import EVENT_FIELDS, HEADER_FIELDS
from .privacy import EVENT_PERSONAL_FIELDS, PERSONAL_FIELDS

Pseudonym = Callable[[str], "str | None"]

CLEAR_FIELDS = frozenset(("dossier", *HEADER_FIELDS))
"""Dossier-level fields stored in clear."""
CLEAR_EVENT_FIELDS = EVENT_FIELDS - EVENT_PERSONAL_FIELDS
"""Event fields stored in clear."""
_KEPT = CLEAR_FIELDS | PERSONAL_FIELDS | {"events"}


def minimise_fragment(record: dict, pseudonym: Pseudonym) -> dict:
    """The fragment of a case-log record: allow-listed fields only, personal ones as pseudonyms.

    A record with no other field (the usual one) is returned as it is, only its personal values
    replaced; events that are not objects are kept for the fragment check to refuse."""
    if not _KEPT.issuperset(record):
        record = {name: value for name, value in record.items() if name in _KEPT}
    for name in PERSONAL_FIELDS.intersection(record):
        record[name] = _pseudonym(record[name], pseudonym)
    events = record.get("events")
    if type(events) is list:
        for index, event in enumerate(events):
            if type(event) is dict:
                if not EVENT_FIELDS.issuperset(event):
                    event = events[index] = {name: value for name, value in event.items() if name in EVENT_FIELDS}
                for name in EVENT_PERSONAL_FIELDS.intersection(event):
                    event[name] = _pseudonym(event[name], pseudonym)
    return record


def _pseudonym(value: object, pseudonym: Pseudonym) -> str | None:
    if value is None or (isinstance(value, str) and value.startswith("p-")):
        return value  # type: ignore[return-value]
    return pseudonym(value if isinstance(value, str) else _flat(value))


def _flat(value: object) -> str:
    """Stable text of a non-text value (an object, a number) to pseudonymise as one."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{key}:{_flat(item)}" for key, item in sorted(value.items(), key=str)) + "}"
    if isinstance(value, list):
        return "[" + ",".join(map(_flat, value)) + "]"
    return str(value)


def scrub_value(value: object, pseudonym: Pseudonym, clear: frozenset[str] = CLEAR_FIELDS) -> object:
    """A copy of a decoded record for the quarantine: the fields in `clear` (and, in `events`,
    those of :data:`CLEAR_EVENT_FIELDS`) as they are, every other leaf value a pseudonym."""
    if isinstance(value, dict):
        out = {}
        for name, item in value.items():
            if name in clear and not isinstance(item, (dict, list)):
                out[name] = item
            elif name == "events" and clear is CLEAR_FIELDS and isinstance(item, list):
                out[name] = [scrub_value(event, pseudonym, CLEAR_EVENT_FIELDS) for event in item]
            else:
                out[name] = scrub_value(item, pseudonym, frozenset())
        return out
    if isinstance(value, list):
        return [scrub_value(item, pseudonym, frozenset()) for item in value]
    if value is None or isinstance(value, bool):
        return value
    return _pseudonym(value, pseudonym)


_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*(?:"|\\?$)|[{}\[\]:,]|[^\s{}\[\]:,"]+')
"""A JSON string (also one cut off by the end of the text), a structural character, or a run of
anything else (a number, a literal, a bare word)."""
_COLON = re.compile(r"\s*:")
_NAME = re.compile(r'"[A-Za-z_][A-Za-z0-9_]*"')
_LITERALS = frozenset(("true", "false", "null"))


def scrub_line(text: str, pseudonym: Pseudonym) -> str:
    """Text that does not decode as JSON, for the quarantine: each string or bare value stays
    as it is only as the value of a clear field of the record (or of one of its `events`); any
    other value, a field name that is not a plain name and every word of text that is not JSON
    at all become pseudonyms (`"p-…"`). Whitespace and punctuation are kept."""
    stack: list[tuple[str, str | None]] = []
    key: list[str | None] = [None]

    def token(match: re.Match) -> str:
        part = match.group()
        if part in "{[":
            stack.append((part, key[0]))
            key[0] = None
            return part
        if part in "}]":
            if stack:
                stack.pop()
            key[0] = None
            return part
        if part in ":,":
            if part == ",":
                key[0] = None
            return part
        if part[0] == '"' and _COLON.match(text, match.end()):
            key[0] = part.strip('"')
            return part if _NAME.fullmatch(part) else _quoted(part, pseudonym)
        if part in _LITERALS or _clear(stack, key[0]):
            return part
        return _quoted(part, pseudonym)

    return _TOKEN.sub(token, text)


def _clear(stack: list[tuple[str, str | None]], key: str | None) -> bool:
    """Whether a value of field `key` at this nesting is one of the clear fields."""
    if key is None:
        return False
    if len(stack) == 1:
        return stack[0][0] == "{" and key in CLEAR_FIELDS
    return (len(stack) == 3 and stack[0][0] == "{" and stack[1] == ("[", "events") and stack[2][0] == "{"
            and key in CLEAR_EVENT_FIELDS)


def _quoted(part: str, pseudonym: Pseudonym) -> str:
    value = part[1:].removesuffix('"') if part[0] == '"' else part
    value = value.replace('\\"', '"').replace("\\\\", "\\")
    return f'"{_pseudonym(value, pseudonym) or ""}"'
