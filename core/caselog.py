"""Reading case-log records (one dossier per JSON line) into the engine's compact form.

Internal module: plugins import its public names from `isobridge.core` (the face).

This is the hot path's validator: it checks the same rules as :class:`~isobridge.core.models.Dossier`
but works on the decoded dict directly and reports *every* problem of a record at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
import orjson

from .errors import RecordError
from .models import EventKind

EVENT_KINDS = frozenset(kind.value for kind in EventKind)


EventKindName = Literal["received", "handover", "sent_back", "supplement_requested", "supplement_received",
                        "paused", "resumed", "apology_issued", "refused", "withdrawn", "stopped", "resolved",
                        "returned"]
"""The values of :class:`~isobridge.core.models.EventKind`, as a type msgspec checks while decoding."""


class CaseEvent(msgspec.Struct, gc=False):
    """One case-log event as given; its instant (epoch seconds) is in :attr:`Case.instants`."""

    at: str
    kind: EventKindName
    step: str | None = None
    from_unit: str | None = None
    unit: str | None = None
    reason: str | None = None
    actor: str | None = None
    new_due_at: str | None = None


@dataclass(slots=True)
class Case:
    """A dossier ready for evaluation."""

    dossier: str
    procedure: str
    agency: str
    channel: str
    received: int
    received_text: str
    due: int | None
    status: int
    events: list[CaseEvent]
    """In time order (a stable sort: events at one instant keep their order)."""
    instants: list[int]
    """The epoch seconds of each of `events`."""


_HOURS: dict[str, int] = {}
_TAILS: dict[str, int] = {}
_CACHE_LIMIT = 400_000
_TAIL_ORIGIN = "2000-01-01T00"
_TAIL_BASE = int(datetime.fromisoformat(_TAIL_ORIGIN + "+00:00").timestamp())


def _cached_instant(value: str) -> int | None:
    """Epoch seconds via two caches: 'YYYY-MM-DDTHH' (as UTC) and ':MM:SS+hh:mm' (minus offset).

    Both halves are validated by `datetime.fromisoformat` the first time they are seen; None when
    the text does not split that way (the caller then parses it in full). Callers pass only text
    longer than 16 characters with 'T' at index 10, so every cached hour has its 'T' and every
    cached tail at least 4 characters.
    """
    hour = _HOURS.get(value[:13])
    if hour is None:
        try:
            hour = int(datetime.fromisoformat(value[:13] + "+00:00").timestamp())
        except ValueError:
            return None
        if hour < 2 * 86_400:  # before 1970 int() truncation differs: parse in full
            return None
        if len(_HOURS) < _CACHE_LIMIT:
            _HOURS[value[:13]] = hour
    tail = _TAILS.get(value[13:])
    if tail is None:
        try:
            moment = datetime.fromisoformat(_TAIL_ORIGIN + value[13:])
        except ValueError:
            return None
        if moment.tzinfo is None or len(value) < 16 or value[13] != ":":
            return None
        tail = int(moment.timestamp()) - _TAIL_BASE
        if len(_TAILS) < _CACHE_LIMIT:
            _TAILS[value[13:]] = tail
    return hour + tail


def parse_instant(value: Any, where: str, errors: list[str]) -> int | None:
    """Epoch seconds of an ISO 8601 timestamp with offset; appends a reason on failure."""
    if type(value) is str and len(value) > 16 and value[10] == "T":
        instant = _cached_instant(value)
        if instant is not None:
            return instant
    if not isinstance(value, str):
        errors.append(f"{where}: expected an ISO 8601 timestamp, got {type(value).__name__}")
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        errors.append(f"{where}: {value!r} is not an ISO 8601 timestamp")
        return None
    if moment.tzinfo is None:
        errors.append(f"{where}: {value!r} has no UTC offset")
        return None
    return int(moment.timestamp())


def _text(record: dict, key: str, errors: list[str], required: bool = True) -> str:
    value = record.get(key)
    if isinstance(value, str) and value:
        return value
    if value is None and not required:
        return ""
    errors.append(f"{key}: {'missing' if value is None else 'expected a non-empty string'}")
    return ""


TEXT_FIELDS = ("step", "from_unit", "unit", "reason", "actor")
"""Event fields that must be text when given."""


def _event(raw: Any, index: int, errors: list[str]) -> tuple[int, CaseEvent] | None:
    where = f"events[{index}]"
    if not isinstance(raw, dict):
        errors.append(f"{where}: expected an object")
        return None
    kind = raw.get("kind")
    if type(kind) is not str or kind not in EVENT_KINDS:
        errors.append(f"{where}.kind: {kind!r} is not one of {sorted(EVENT_KINDS)}")
    at = parse_instant(raw.get("at"), f"{where}.at", errors)
    if at is None or type(kind) is not str or kind not in EVENT_KINDS:
        return None
    new_due = raw.get("new_due_at")
    if new_due is not None and parse_instant(new_due, f"{where}.new_due_at", errors) is None:
        return None
    bad = [name for name in TEXT_FIELDS if raw.get(name) is not None and type(raw.get(name)) is not str]
    for name in bad:
        errors.append(f"{where}.{name}: expected text, got {type(raw[name]).__name__}")
    if bad:
        return None
    get = raw.get
    # `kind` is one of EVENT_KINDS (checked above), which a type checker cannot see
    event = CaseEvent(raw["at"], kind,  # type: ignore[arg-type]
                      get("step"), get("from_unit"), get("unit"), get("reason"), get("actor"), new_due)
    return at, event


def _events(raw_events: list, errors: list[str]) -> tuple[list[int], list[CaseEvent]]:
    """Parse events into (instants, events); the common well-formed event takes a fast path.

    The fast path only takes events whose timestamp halves are both already in the caches; any
    other event goes through :func:`_event`, which validates and reports in full.
    """
    instants: list[int] = []
    events: list[CaseEvent] = []
    append, kinds, hours, tails = events.append, EVENT_KINDS, _HOURS, _TAILS
    dropped = 0  # events _event refused: the index of raw event i is len(events) + dropped
    for raw in raw_events:
        if type(raw) is dict and "new_due_at" not in raw:
            get = raw.get
            text, kind = get("at"), get("kind")
            if type(text) is str and type(kind) is str and kind in kinds:
                # A hit in both caches means the text is 'YYYY-MM-DDTHH' + ':MM:SS+hh:mm' as
                # validated when the cache entries were made (so no length or 'T' check here).
                hour, tail = hours.get(text[:13]), tails.get(text[13:])
                if hour is not None and tail is not None:
                    step, source, unit, reason = get("step"), get("from_unit"), get("unit"), get("reason")
                    actor = get("actor")
                    if ((step is None or type(step) is str) and (source is None or type(source) is str)
                            and (unit is None or type(unit) is str) and (reason is None or type(reason) is str)
                            and (actor is None or type(actor) is str)):
                        instants.append(hour + tail)
                        append(CaseEvent(text, kind, step, source, unit, reason, actor))  # type: ignore[arg-type]
                        continue
        parsed = _event(raw, len(events) + dropped, errors)
        if parsed is None:
            dropped += 1
        else:
            instants.append(parsed[0])
            append(parsed[1])
    return instants, events


def _in_time_order(instants: list[int], events: list[CaseEvent]) -> tuple[list[int], list[CaseEvent]]:
    """Sort events by instant, stably; lists already in order come back as they are."""
    if sorted(instants) == instants:  # in C: cheaper than a Python loop over pairs
        return instants, events
    order = sorted(range(len(instants)), key=instants.__getitem__)
    return [instants[i] for i in order], [events[i] for i in order]


def _instant(text: str, hours: dict[str, int], tails: dict[str, int]) -> int | None:
    """Epoch seconds of a timestamp text from the caches (filling them); None: parse it in full."""
    hour, tail = hours.get(text[:13]), tails.get(text[13:])
    if hour is not None and tail is not None:
        return hour + tail
    if len(text) > 16 and text[10] == "T":
        return _cached_instant(text)
    return None


def parse_case(record: Any) -> Case:
    """Validate a decoded case-log line; raises :class:`RecordError` listing every problem."""
    if type(record) is dict:  # fast path for the common, well-formed record
        get = record.get
        dossier, procedure, status = get("dossier"), get("procedure"), get("status")
        received_text, due_text, raw_events = get("received_at"), get("due_at"), get("events", _NO_EVENTS)
        if (type(dossier) is str and dossier and type(procedure) is str and procedure
                and type(status) is int and 1 <= status <= 10 and type(raw_events) is list
                and type(received_text) is str and len(received_text) > 16 and received_text[10] == "T"
                and (due_text is None or type(due_text) is str and len(due_text) > 16 and due_text[10] == "T")):
            received = _instant(received_text, _HOURS, _TAILS)
            due = None if due_text is None else _instant(due_text, _HOURS, _TAILS)
            if received is not None and (due is not None or due_text is None):
                errors: list[str] = []
                instants, events = _events(raw_events, errors)
                if not errors:
                    instants, events = _in_time_order(instants, events)
                    return Case(dossier, procedure, get("agency") or "", get("channel") or "direct",
                                received, received_text, due, status, events, instants)
    return _parse_case_in_full(record)


_NO_EVENTS: list = []


def _parse_case_in_full(record: Any) -> Case:
    """The general path of :func:`parse_case`: every check, every problem reported."""
    if not isinstance(record, dict):
        raise RecordError([f"expected a JSON object, got {type(record).__name__}"])
    errors: list[str] = []
    dossier = _text(record, "dossier", errors)
    procedure = _text(record, "procedure", errors)
    received = parse_instant(record.get("received_at"), "received_at", errors)
    due = record.get("due_at")
    due = parse_instant(due, "due_at", errors) if due is not None else None
    status = record.get("status")
    if type(status) is not int or not 1 <= status <= 10:
        errors.append(f"status: {status!r} is not a national status code 1–10")
    raw_events = record.get("events", [])
    instants: list[int] = []
    events: list[CaseEvent] = []
    if not isinstance(raw_events, list):
        errors.append("events: expected a list")
    else:
        instants, events = _events(raw_events, errors)
    if errors:
        raise RecordError(errors)
    instants, events = _in_time_order(instants, events)
    return Case(
        dossier,
        procedure,
        record.get("agency") or "",
        record.get("channel") or "direct",
        received,  # type: ignore[arg-type]
        record["received_at"],
        due,
        status,  # type: ignore[arg-type]
        events,
        instants,
    )


# -- decoding a line straight into a case ------------------------------------------------------
# msgspec checks types while it decodes (in C), so a well-formed line needs no check in Python.
# Any line it refuses, or whose timestamps are not in the caches, is decoded again with orjson
# and goes through parse_case, which reports every problem: the fast path only ever accepts
# what parse_case accepts, with the same result.

_Text = Annotated[str, msgspec.Meta(min_length=1)]


class _WireCase(msgspec.Struct, gc=False):
    dossier: _Text
    procedure: _Text
    received_at: str
    status: Annotated[int, msgspec.Meta(ge=1, le=10)]
    due_at: str | None = None
    agency: str | None = None
    channel: str | None = None
    events: list[CaseEvent] = []


_decode_wire = msgspec.json.Decoder(_WireCase).decode


def decode_case(line: bytes | memoryview) -> Case:
    """Decode and validate one case-log JSON line; raises RecordError (or orjson.JSONDecodeError).

    A UTF-8 byte order mark before the line (the first line of a file saved by some editors) is
    skipped; bytes that are not UTF-8 are refused, never replaced."""
    try:
        case = _from_wire(_decode_wire(line))
    except msgspec.DecodeError:
        if bytes(line[:3]) == BOM:
            return decode_case(line[3:])
        case = None
    return case if case is not None else parse_case(orjson.loads(line))


BOM = b"\xef\xbb\xbf"
"""The UTF-8 byte order mark."""


def _from_wire(wire: _WireCase) -> Case | None:
    """The case of a decoded line, or None when a timestamp needs parse_case's full check."""
    hours, tails = _HOURS, _TAILS
    received = _instant(wire.received_at, hours, tails)
    due = None if wire.due_at is None else _instant(wire.due_at, hours, tails)
    if received is None or (due is None and wire.due_at is not None):
        return None
    instants: list[int] = []
    append = instants.append
    ordered, last = True, -1
    for event in wire.events:
        text = event.at
        hour, tail = hours.get(text[:13]), tails.get(text[13:])  # _instant's cache hit, inlined
        at = hour + tail if hour is not None and tail is not None else _instant(text, hours, tails)
        if at is None or (event.new_due_at is not None and _instant(event.new_due_at, hours, tails) is None):
            return None
        ordered, last = ordered and at >= last, at
        append(at)
    instants, events = (instants, wire.events) if ordered else _in_time_order(instants, wire.events)
    return Case(wire.dossier, wire.procedure, wire.agency or "", wire.channel or "direct", received,
                wire.received_at, due, wire.status, events, instants)
