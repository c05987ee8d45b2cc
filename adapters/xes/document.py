"""IEEE 1849-2016 XES text of evidence: the log header, one trace per evidence revision, the trailer.

Everything is plain string building with escaped attribute values, so a trace costs a few
microseconds and memory never depends on the size of the log. Per trace: `concept:name` is the
dossier, `evidence:*` the dossier's verdict and header; per step row an event with
`lifecycle:transition` `start` at the hand-over and, once finished, one with `complete`, both
with `org:group` (the unit); the `conformance:*` attributes of the step go on the last of them.
"""

from __future__ import annotations

from collections.abc import Callable

from .xml import attr, timestamp

XES_VERSION = "1849.2016"
EXTENSIONS = (
    ("Concept", "concept", "http://www.xes-standard.org/concept.xesext"),
    ("Time", "time", "http://www.xes-standard.org/time.xesext"),
    ("Lifecycle", "lifecycle", "http://www.xes-standard.org/lifecycle.xesext"),
    ("Organizational", "org", "http://www.xes-standard.org/org.xesext"),
)
TRAILER = "</log>\n"

StepName = Callable[[str, str, str], str]
"""(procedure, step code, received_at) → activity name."""


def header(log_name: str) -> str:
    """XML declaration, `<log>` with extensions, globals, classifiers and the log's name."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', f'<log xes.version="{XES_VERSION}" xes.features="">']
    lines += [f'  <extension name="{n}" prefix="{p}" uri="{u}"/>' for n, p, u in EXTENSIONS]
    lines += [
        '  <global scope="trace">',
        '    <string key="concept:name" value="UNKNOWN"/>',
        "  </global>",
        '  <global scope="event">',
        '    <string key="concept:name" value="UNKNOWN"/>',
        '    <date key="time:timestamp" value="1970-01-01T00:00:00+00:00"/>',
        '    <string key="lifecycle:transition" value="complete"/>',
        "  </global>",
        '  <classifier name="Activity" keys="concept:name"/>',
        '  <classifier name="ActivityTransition" keys="concept:name lifecycle:transition"/>',
        f'  <string key="concept:name" value="{attr(log_name)}"/>',
        '  <string key="lifecycle:model" value="standard"/>',
    ]
    return "\n".join(lines) + "\n"


_FRAGMENTS: dict[tuple[str, str], str] = {}


def _string(key: str, value: object) -> str:
    return f'<string key="{key}" value="{attr(value)}"/>'


def _label(key: str, value: str) -> str:
    """A string attribute of a value that repeats (units, activities): built once, then reused."""
    found = _FRAGMENTS.get((key, value))
    if found is None:
        if len(_FRAGMENTS) > 100_000:
            _FRAGMENTS.clear()
        found = _FRAGMENTS[(key, value)] = _string(key, value)
    return found


def _date(key: str, value: str | None) -> str:
    return f'<date key="{key}" value="{timestamp(value)}"/>' if value else ""


def _int(key: str, value: int | None) -> str:
    return f'<int key="{key}" value="{int(value)}"/>' if value is not None else ""


def trace(evidence: dict, revision: int, step_name: StepName) -> str:
    """One `<trace>` element for an evidence revision; raises KeyError/ValueError/TypeError on bad input."""
    dossier, procedure, received = evidence["dossier"], evidence["procedure"], evidence["received_at"]
    parts = [
        "  <trace>\n    ",
        _string("concept:name", dossier),
        _label("evidence:procedure", procedure),
        _label("evidence:agency", evidence.get("agency") or ""),
        _label("evidence:channel", evidence.get("channel") or ""),
        _label("evidence:verdict", evidence["verdict"]),
        _int("evidence:revision", revision),
        _int("evidence:status", evidence.get("status")),
        _date("evidence:receivedAt", received),
        _date("evidence:dueAt", evidence.get("due_at")),
        _date("evidence:finishedAt", evidence.get("finished_at")),
        _int("evidence:pausedMinutes", evidence.get("paused_minutes") or 0),
        _int("evidence:nonconformities", len(evidence.get("nonconformities") or ())),
    ]
    for row in evidence["steps"]:
        parts.append("\n    " + _events(row, step_name(procedure, row["step"], received)))
    parts.append("\n  </trace>\n")
    return "".join(parts)


_START = '<string key="lifecycle:transition" value="start"/>'
_COMPLETE = '<string key="lifecycle:transition" value="complete"/>'


def _events(row: dict, activity: str) -> str:
    """The start event of a step row and, when the step is finished, its complete event.

    Both carry the activity and the unit; the step's conformance attributes go on the event
    that closes what is known of the step (complete, or start while the step is open).
    """
    unit = row.get("unit")
    who = _label("concept:name", activity) + (_label("org:group", unit) if unit else "")
    conformance = (
        _label("conformance:step", row["step"])
        + (_label("conformance:fromUnit", row["from_unit"]) if row.get("from_unit") else "")
        + _date("conformance:dueAt", row.get("due_at"))
        + _int("conformance:allowedMinutes", row.get("allowed_minutes"))
        + _int("conformance:usedMinutes", row.get("used_minutes"))
        + (_label("conformance:verdict", row["verdict"]) if row.get("verdict") else "")
    )
    start = f'<event>{who}{_date("time:timestamp", row["started_at"])}{_START}'
    finished = row.get("finished_at")
    if not finished:
        return f"{start}{conformance}</event>"
    return f'{start}</event><event>{who}{_date("time:timestamp", finished)}{_COMPLETE}{conformance}</event>'
