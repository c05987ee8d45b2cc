"""Case-log fragments: their admission into the core and their merge into one dossier.

Internal module: plugins import its public names from `isobridge.core` (the face).

Sources return fragments (a dossier code plus any header fields and events); fragments of one
dossier may come from many records, files, pages or sources, in any order, more than once.

- `admit` is the edge every fragment passes, whatever source made it: only the fields the
  evaluation needs are kept (an allow-list; every other field is dropped and counted by name),
  every text is Unicode NFC, empty texts count as absent, and each event is tagged with the
  source it came from.
- `merge` joins fragments into the stored dossier. It is a join: commutative, associative and
  idempotent, so reading a record again (a reset checkpoint, a page re-read after a crash) or in
  another order gives the same dossier, byte for byte. Events are de-duplicated per source by
  (at, kind, step, unit) and ordered by instant; a header field takes the value of the fragment
  whose latest event (or `as_of`, when the source gives one) is latest (a fragment with
  neither counts as oldest; ties go to the greater value), the instant kept in `header_at`.
- `StepAuthority` chooses, when several sources describe one dossier, whose events are evaluated.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from itertools import chain
from typing import Any

import orjson

from .caselog import _HOURS, _TAILS, TEXT_FIELDS, RecordError, parse_instant

HEADER_FIELDS = ("procedure", "agency", "channel", "received_at", "due_at", "status")
"""The dossier-level fields a fragment may carry besides its code and events."""
REQUIRED_FIELDS = ("procedure", "received_at", "status")
"""Header fields a dossier needs before it can be evaluated (until then it is `pending`)."""
RESOLVED_STATUS = frozenset({9, 10})
"""National statuses of a resolved dossier: its evaluation needs the event that says when."""
FINISHING_KINDS = frozenset({"resolved", "returned"})


def waiting_for(record: dict) -> list[str]:
    """What a merged dossier still lacks before it can be evaluated (empty: nothing).

    Its required header fields, and for a dossier whose status says it was resolved, the event
    that says when (judging it without one would call a finished dossier overdue).
    """
    missing = [name for name in REQUIRED_FIELDS if record.get(name) is None]
    if record.get("status") in RESOLVED_STATUS and not any(
            isinstance(event, dict) and event.get("kind") in FINISHING_KINDS for event in record.get("events", ())):
        missing.append(f"a `resolved` or `returned` event (status {record['status']} says resolved)")
    return missing


KEPT_HEADER = (*HEADER_FIELDS, "applicant")
"""Header fields stored: the evaluation's, and the applicant (only ever as a pseudonym)."""
EVENT_FIELDS = frozenset(("at", "kind", *TEXT_FIELDS, "new_due_at"))
"""Event fields stored (the evaluation's); `actor` only ever as a pseudonym."""
SOURCE = "source"
"""Event key naming the configured source an event came from (set by `admit`)."""
HEADER_AT = "header_at"
"""Dossier key: per header field, the instant (epoch seconds) of the fragment its value came from."""
AS_OF = "as_of"
"""Optional fragment key: the instant the source's record describes the dossier as of (e.g. the
time of a status update without events). It ranks the fragment's header fields; not stored."""
_KEPT = frozenset(("dossier", "events", AS_OF, *KEPT_HEADER))
_STORED = _KEPT - {AS_OF}
_EVENT_KEPT = EVENT_FIELDS | {SOURCE}  # a fragment admitted twice (a replay) stays the usual one
_EVENT_TEXT = frozenset(("at", "kind", *TEXT_FIELDS))
_TEXT_OR_NONE = frozenset((str, type(None)))
_HEADER_TEXT = tuple(name for name in HEADER_FIELDS if name != "status")
_OLDEST = -1


def event_key(event: dict) -> tuple:
    """The identity of an event: the same event reported twice merges into one."""
    return (event.get("at"), event.get("kind"), event.get("step"), event.get("unit"))


def _stored_key(event: dict) -> tuple:
    """Identity within the stored dossier: per source, so each source's account stays whole."""
    return (event.get("at"), event.get("kind"), event.get("step"), event.get("unit"), event.get(SOURCE))


def _order(instant: int, key: tuple) -> tuple:
    """Sort key: instant; at one instant a reception first (a step received and handed on at once,
    as OpenCPS and national-portal rows record it, must not run until the next hand-over); then the
    identity (absent parts before any text, the empty one too)."""
    return (instant, key[1] != "received", *("" if part is None else "\x00" + part for part in key))


def instant(text: object) -> int:
    """Epoch seconds of an event's `at`, 0 when it is not a timestamp (the evaluation says why)."""
    if type(text) is not str:
        return 0
    hour, tail = _HOURS.get(text[:13]), _TAILS.get(text[13:])  # the case-log reader's caches
    if hour is not None and tail is not None:
        return hour + tail
    value = parse_instant(text, "at", [])
    return 0 if value is None else value


def nfc(value: Any) -> Any:
    """`value` with every text in Unicode NFC, one spelling of each Vietnamese letter (some systems
    send them decomposed): texts, and the keys and values of objects and lists; others as they are.
    The one normaliser of the edge (sources that match text in their mappings call it first)."""
    if type(value) is str:
        return value if value.isascii() or unicodedata.is_normalized("NFC", value) else unicodedata.normalize("NFC", value)
    if isinstance(value, dict):
        return {nfc(key): nfc(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [nfc(inner) for inner in value]
    return value


def admit(fragment: dict, source: str, dropped: Counter | None = None) -> dict:
    """The stored form of a checked fragment: allow-listed fields only (the others are counted
    in `dropped` by name, never by value), texts in NFC, empty texts absent, events tagged with
    `source`. Personal fields kept (`applicant`, `actor`) still need the pseudonymizer.

    The usual fragment (only known fields, no empty text, already NFC) is tagged in place.
    """
    events = fragment.get("events") or []
    if _usual(fragment, events):
        for event in events:
            event[SOURCE] = source
        fragment["events"] = events
        return fragment
    admitted: dict = {}
    for name, value in fragment.items():
        if name not in _KEPT:
            if dropped is not None:
                dropped[name] += 1
        elif name != "events" and value is not None and value != "":
            admitted[name] = nfc(value)
    admitted["events"] = [_admit_event(event, source, dropped) for event in events]
    return admitted


def _usual(fragment: dict, events: list) -> bool:
    """Only known fields, no empty text, no absent (None) event value, every text NFC: checked
    in a few C-level passes. What passes is exactly what the general path would make of it."""
    if not _KEPT.issuperset(fragment) or not _EVENT_KEPT.issuperset(chain.from_iterable(events)):
        return False
    header = [value for value in fragment.values() if type(value) is str]
    try:  # None or a number among the event values: the general path decides what to keep
        text = "\x00".join(chain(header, chain.from_iterable(map(dict.values, events))))
    except TypeError:
        return False
    if "\x00\x00" in text or text[:1] == "\x00" or text[-1:] == "\x00":
        return False  # an empty text (or a NUL in one): the general path
    return unicodedata.is_normalized("NFC", text)  # NUL composes with nothing: all parts are NFC


def _admit_event(event: dict, source: str, dropped: Counter | None) -> dict:
    kept = {SOURCE: source}
    for name, value in event.items():
        if name not in EVENT_FIELDS:
            if dropped is not None and name != SOURCE:
                dropped[f"events[].{name}"] += 1
        elif value is not None and value != "":
            kept[name] = nfc(value)
    return kept


def _canonical(value: object) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def merge(stored: dict | None, fragments: Iterable[dict]) -> dict:
    """Join admitted fragments into the stored dossier (see the module's rules); `stored` is
    left as it was. The result depends only on the set of fragments, not their order or count."""
    fragments = list(fragments)
    if stored is None and len(fragments) == 1:
        lone = _lone(fragments[0])
        if lone is not None:
            return lone
    header: dict = {}
    header_at: dict[str, int] = {}
    events: dict[tuple, tuple[int, dict]] = {}
    parts = chain(((stored, stored.get(HEADER_AT) or {}),) if stored else (), ((f, None) for f in fragments))
    for part, known_at in parts:
        latest = _OLDEST if part.get(AS_OF) is None else instant(part[AS_OF])
        for event in part.get("events") or ():
            key, at = _stored_key(event), instant(event.get("at"))
            latest = at if at > latest else latest
            held = events.get(key)
            if held is None or (held[1] != event and _canonical(event) > _canonical(held[1])):
                events[key] = (at, event)
        for name in KEPT_HEADER:
            value = part.get(name)
            if value is None:
                continue
            at = latest if known_at is None else known_at.get(name, _OLDEST)
            old = header.get(name)
            if old is None or header_at[name] < at or (
                    header_at[name] == at and old != value and _canonical(value) > _canonical(old)):
                header[name], header_at[name] = value, at
        if "dossier" in part:
            header.setdefault("dossier", part["dossier"])
    merged = {"dossier": header.pop("dossier", None), **header}
    merged["events"] = [event for _, event in sorted(
        events.values(), key=lambda held: _order(held[0], _stored_key(held[1])))]
    merged[HEADER_AT] = header_at
    return merged


def _lone(fragment: dict) -> dict | None:
    """`merge(None, [fragment])` for the usual fragment, whose events are in strictly increasing
    instants (so distinct and in order); None for any other."""
    events = fragment.get("events") or []
    hours, tails = _HOURS, _TAILS  # `instant`, inlined: this runs once per dossier of a first sync
    latest = _OLDEST if fragment.get(AS_OF) is None else instant(fragment[AS_OF])
    last = _OLDEST
    for event in events:
        text = event.get("at")
        hour = tail = None
        if type(text) is str:
            hour, tail = hours.get(text[:13]), tails.get(text[13:])
        at = hour + tail if hour is not None and tail is not None else instant(text)
        if at <= last:
            return None
        last = at
    latest = max(latest, last)
    merged = {name: value for name, value in fragment.items() if name in _STORED and value is not None}
    merged["events"] = events
    merged[HEADER_AT] = dict.fromkeys([name for name in KEPT_HEADER if name in merged], latest)
    return merged


class StepAuthority:
    """Which source's events a dossier is evaluated on when several sources describe it.

    Rules give a priority list of source names by procedure, else by agency, else `default`.
    The first listed source that has events for the dossier is the only one whose events are
    evaluated; when none of the listed sources has any, the events of every other source are
    (de-duplicated across sources). Header fields always merge from every source. Events a
    ledger stored before events carried their source count as one more, unnamed, source.
    """

    def __init__(self, default: list[str] = (), procedures: Mapping[str, list[str]] | None = None,
                 agencies: Mapping[str, list[str]] | None = None):
        self.default = list(default)
        self.procedures = dict(procedures or {})
        self.agencies = dict(agencies or {})

    def priority(self, record: dict) -> list[str]:
        """The priority list that applies to a dossier."""
        by_procedure = self.procedures.get(record.get("procedure"))  # type: ignore[arg-type]
        if by_procedure is not None:
            return by_procedure
        by_agency = self.agencies.get(record.get("agency"))  # type: ignore[arg-type]
        return by_agency if by_agency is not None else self.default

    def sources(self) -> set[str]:
        """Every source named by a rule."""
        return {name for names in chain([self.default], self.procedures.values(), self.agencies.values())
                for name in names}

    def view(self, record: dict) -> dict:
        """The dossier as evaluated: its events from the authoritative source only (see class)."""
        events = record.get("events") or []
        present = {event.get(SOURCE) for event in events}
        if len(present) <= 1:
            return record
        listed = [name for name in self.priority(record) if name in present]
        keep = {listed[0]} if listed else present
        seen: set[tuple] = set()
        kept = []
        for event in events:
            key = event_key(event)
            if event.get(SOURCE) in keep and key not in seen:
                seen.add(key)
                kept.append(event)
        return {**record, "events": kept}


def check_fragment(fragment: object) -> dict:
    """Structural check of one fragment returned by a source's `map`; RecordError lists every problem."""
    if not isinstance(fragment, dict):
        raise RecordError([f"mapping produced {type(fragment).__name__}, not an object"])
    errors = []
    if not isinstance(fragment.get("dossier"), str) or not fragment["dossier"]:
        errors.append("dossier: missing dossier code")
    events = fragment.get("events", [])
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        errors.append("events: expected a list of objects")
    elif not _TEXT_OR_NONE.issuperset(map(type, chain.from_iterable(map(dict.values, events)))):
        for index, event in enumerate(events):  # the usual fragment, every event value text, skips this
            for name, value in event.items():
                if type(value) is not str and value is not None and name in _EVENT_TEXT:
                    errors.append(f"events[{index}].{name}: expected text, got {type(value).__name__}")
    for name in _HEADER_TEXT:
        value = fragment.get(name)
        if value is not None and type(value) is not str:
            errors.append(f"{name}: expected text, got {type(value).__name__}")
    if errors:
        raise RecordError(errors)
    return fragment
