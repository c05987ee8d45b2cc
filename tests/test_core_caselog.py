"""Case-log decoding: the typed fast path (`decode_case`) agrees with `parse_case` on every line."""

from __future__ import annotations

from typing import get_args

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from isobridge.core.caselog import EVENT_KINDS, EventKindName, RecordError, decode_case, parse_case
from isobridge.core.generate import CaseLogGenerator


def outcome(parse, line: bytes):
    """What parsing `line` gives: the case, or the reasons it was refused."""
    try:
        return parse(line)
    except RecordError as exc:
        return ("refused", exc.errors)


def by_parse_case(line: bytes):
    return parse_case(orjson.loads(line))


def test_generated_dossiers_decode_as_parse_case_reads_them(evaluator):
    records = CaseLogGenerator(evaluator.procedures, evaluator.calendar, seed=11).records(400)
    for record in records:
        line = orjson.dumps(record)
        assert decode_case(line) == by_parse_case(line)


GOOD = {"dossier": "HS-1", "procedure": "1.001612", "agency": "UBND xã", "channel": "online",
        "received_at": "2025-03-03T08:00:00+07:00", "due_at": "2025-03-05T08:00:00+07:00", "status": 10,
        "events": [{"at": "2025-03-03T08:00:00+07:00", "kind": "received", "step": "TN", "actor": "A"},
                   {"at": "2025-03-04T09:00:00+07:00", "kind": "apology_issued",
                    "new_due_at": "2025-03-06T08:00:00+07:00"},
                   {"at": "2025-03-03T09:30:00+07:00", "kind": "handover", "step": "TD", "unit": "Phòng"}]}


@pytest.mark.parametrize("change", [
    {},
    {"status": True}, {"status": 5.0}, {"status": 0}, {"status": 11}, {"status": "10"},
    {"dossier": ""}, {"dossier": None}, {"dossier": 7}, {"procedure": ""},
    {"agency": None}, {"agency": 5}, {"channel": None}, {"channel": ""}, {"extra": {"a": 1}},
    {"received_at": "2025-03-03T08:00:00"}, {"received_at": "2025-03-03 08:00:00+07:00"},
    {"received_at": "2025-03-03T08:00:00Z"}, {"received_at": "2025-03-03T08:00:00.250+07:00"},
    {"received_at": "2025-02-30T08:00:00+07:00"}, {"received_at": 1740963600}, {"received_at": "T" * 20},
    {"due_at": None}, {"due_at": "tomorrow"}, {"events": None}, {"events": {}}, {"events": []},
    {"events": [None, 3, {"at": "2025-03-03T08:00:00+07:00", "kind": "teleported"}]},
    {"events": [{"at": "2025-03-03T08:00:00+07:00", "kind": "received", "actor": 5}]},
    {"events": [{"at": "2025-03-03T08:00:00+07:00", "kind": "received", "step": None, "reason": None}]},
    {"events": [{"at": "2025-03-03T08:00:00+07:00", "kind": "apology_issued", "new_due_at": "soon"}]},
    {"events": [{"kind": "received"}]},
])
def test_decode_case_agrees_with_parse_case(change):
    line = orjson.dumps({**GOOD, **change})
    assert outcome(decode_case, line) == outcome(by_parse_case, line)


@pytest.mark.parametrize("line", [b"[1, 2]", b"null", b'"text"', b'{"dossier": "HS-1", "dossier": ""}'])
def test_lines_that_are_no_record_are_refused_alike(line):
    assert outcome(decode_case, line) == outcome(by_parse_case, line)


def test_the_decoder_knows_every_event_kind_of_the_contract():
    assert set(get_args(EventKindName)) == EVENT_KINDS


def test_invalid_json_raises_the_json_error():
    with pytest.raises(orjson.JSONDecodeError):
        decode_case(b'{"dossier": "HS-1"')


_TIMES = st.sampled_from(["2025-03-03T08:00:00+07:00", "2025-03-03T01:00:00Z", "2025-12-31T23:59:59+07:00",
                          "2025-03-03T08:00:00", "not a time", "2025-03-03T08:00:00.5+07:00"])
_VALUES = st.one_of(st.none(), st.integers(-2, 12), st.booleans(), st.text(max_size=3), _TIMES,
                    st.lists(st.integers(-5, 5), max_size=1))
_KINDS = st.sampled_from(["received", "handover", "sent_back", "paused", "resumed", "resolved", "returned", "x"])
_EVENTS = st.fixed_dictionaries(
    {"at": st.one_of(_TIMES, _VALUES), "kind": st.one_of(_KINDS, _VALUES)},
    optional={name: st.one_of(_VALUES, _TIMES) for name in
              ("step", "from_unit", "unit", "reason", "actor", "new_due_at", "other")},
)
_RECORDS = st.fixed_dictionaries(
    {},
    optional={"dossier": _VALUES, "procedure": _VALUES, "agency": _VALUES, "channel": _VALUES,
              "received_at": st.one_of(_TIMES, _VALUES), "due_at": st.one_of(_TIMES, _VALUES),
              "status": _VALUES, "events": st.one_of(st.lists(st.one_of(_EVENTS, _VALUES), max_size=4), _VALUES)},
)


@settings(max_examples=400, deadline=None)
@given(_RECORDS)
def test_decode_case_agrees_with_parse_case_on_any_record(record):
    line = orjson.dumps(record)
    assert outcome(decode_case, line) == outcome(by_parse_case, line)
