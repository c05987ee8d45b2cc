"""Case-log fragments: their structural check and their merge into one dossier.

Sources return fragments (a dossier code plus any header fields and events); fragments of one
dossier may come from many records, files or pages, in any order. The ledger keeps the merged
dossier: header fields latest-wins, events de-duplicated by (at, kind, step, unit) and ordered by
instant.
"""

from __future__ import annotations

from datetime import datetime
from itertools import chain

from .caselog import TEXT_FIELDS, RecordError

HEADER_FIELDS = ("procedure", "agency", "channel", "received_at", "due_at", "status")
"""The dossier-level fields a fragment may carry besides its code and events."""
REQUIRED_FIELDS = ("procedure", "received_at", "status")
"""Header fields a dossier needs before it can be evaluated (until then it is `pending`)."""
_EVENT_TEXT = frozenset(("at", "kind", *TEXT_FIELDS))
_TEXT_OR_NONE = frozenset((str, type(None)))
_HEADER_TEXT = tuple(name for name in HEADER_FIELDS if name != "status")


def event_key(event: dict) -> tuple:
    """The identity of an event: the same event reported twice merges into one."""
    return (event.get("at"), event.get("kind"), event.get("step"), event.get("unit"))


def _event_order(event: dict) -> tuple:
    """By instant; at one instant a reception first (a step received and handed on at once, as
    OpenCPS and national-portal rows record it, must not run until the next hand-over)."""
    try:
        instant = datetime.fromisoformat(event["at"]).timestamp()
    except (KeyError, TypeError, ValueError):
        instant = 0.0
    return (instant, event.get("kind") != "received", *(str(part) for part in event_key(event)))


def merge(stored: dict | None, fragments: list[dict]) -> dict:
    """Merge case-log fragments into a dossier: header fields latest-wins, events de-duplicated."""
    if stored is None and len(fragments) == 1:
        return fragments[0]
    merged: dict = dict(stored) if stored else {}
    events: dict[tuple, dict] = {event_key(e): e for e in merged.get("events", [])}
    for fragment in fragments:
        for name, value in fragment.items():
            if name != "events" and value is not None:
                merged[name] = value
        for event in fragment.get("events", []):
            events.setdefault(event_key(event), event)
    merged["events"] = sorted(events.values(), key=_event_order)
    return merged


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
