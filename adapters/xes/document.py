"""IEEE 1849-2016 XES text of evidence: the log header, one trace per evidence revision, the trailer.

Everything is plain string building with escaped attribute values, so a trace costs a few
microseconds and memory never depends on the size of the log. Per trace: `concept:name` is the
dossier, `evidence:*` the dossier's verdict and header; per step row an event with
`lifecycle:transition` `start` at the hand-over and, once finished, one with `complete`, both
with `org:group` (the unit) and the `conformance:*` attributes of the step.
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


def _string(key: str, value: object) -> str:
    return f'<string key="{key}" value="{attr(value)}"/>'


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
        _string("evidence:procedure", procedure),
        _string("evidence:agency", evidence.get("agency") or ""),
        _string("evidence:channel", evidence.get("channel") or ""),
        _string("evidence:verdict", evidence["verdict"]),
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


def _events(row: dict, activity: str) -> str:
    """The start event of a step row and, when the step is finished, its complete event."""
    common = (
        _string("concept:name", activity)
        + _string("conformance:step", row["step"])
        + (_string("org:group", row["unit"]) if row.get("unit") else "")
        + (_string("conformance:fromUnit", row["from_unit"]) if row.get("from_unit") else "")
        + _date("conformance:dueAt", row.get("due_at"))
        + _int("conformance:allowedMinutes", row.get("allowed_minutes"))
    )
    outcome = _int("conformance:usedMinutes", row.get("used_minutes"))
    if row.get("verdict"):
        outcome += _string("conformance:verdict", row["verdict"])
    finished = row.get("finished_at")
    start = _date("time:timestamp", row["started_at"]) + _string("lifecycle:transition", "start")
    if not finished:  # an open step: its verdict so far travels on the start event
        return f"<event>{common}{start}{outcome}</event>"
    complete = _date("time:timestamp", finished) + _string("lifecycle:transition", "complete")
    return f"<event>{common}{start}</event><event>{common}{complete}{outcome}</event>"
