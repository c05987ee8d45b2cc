"""The merge of case-log fragments is a join: re-reading, re-ordering or splitting the records of
a dossier never changes the merged dossier (so never its hash, never a revision)."""

from __future__ import annotations

import orjson
from hypothesis import given, settings, strategies as st

from isobridge.core.merge import merge

INSTANTS = [f"2026-03-0{day}T0{hour}:00:00+07:00" for day in (2, 3) for hour in (8, 9)]
TEXT = st.sampled_from(["TN", "TD", "PD", "", None])

events = st.lists(st.fixed_dictionaries(
    {"at": st.sampled_from(INSTANTS), "kind": st.sampled_from(["received", "handover", "returned"])},
    optional={"step": TEXT, "unit": TEXT, "reason": st.sampled_from(["a", "b"]), "actor": st.sampled_from(["p-1", "p-2"])},
), max_size=5)
fragments = st.lists(st.fixed_dictionaries(
    {"dossier": st.just("D-1"), "events": events},
    optional={"procedure": st.sampled_from(["1.001612", "2.000908"]), "status": st.integers(1, 10),
              "agency": st.sampled_from(["Sở Tư pháp", "UBND xã"]), "received_at": st.sampled_from(INSTANTS)},
), min_size=1, max_size=5)


def blob(dossier: dict) -> bytes:
    """What the ledger hashes."""
    return orjson.dumps(dossier, option=orjson.OPT_SORT_KEYS)


@settings(max_examples=300, deadline=None)
@given(fragments, st.randoms(use_true_random=False))
def test_merge_is_idempotent_and_order_insensitive(parts: list[dict], rnd) -> None:
    once = merge(None, parts)
    shuffled = parts[:]
    rnd.shuffle(shuffled)
    assert blob(merge(None, shuffled)) == blob(once)  # any order
    assert blob(merge(once, parts)) == blob(once)  # everything read again
    for part in parts:  # any one record read again, alone
        assert blob(merge(once, [part])) == blob(once)
    split = rnd.randrange(len(parts) + 1)  # records in two pages, in either order
    assert blob(merge(merge(None, shuffled[:split]) if split else None, shuffled[split:])) == blob(once)


def test_a_lone_fragment_is_stored_sorted_and_deduplicated() -> None:
    late = {"at": "2026-03-03T08:00:00+07:00", "kind": "handover", "step": "TD"}
    early = {"at": "2026-03-02T08:00:00+07:00", "kind": "received", "step": "TN"}
    stored = merge(None, [{"dossier": "D", "events": [late, early, dict(late)]}])
    assert [event["step"] for event in stored["events"]] == ["TN", "TD"]
    assert merge(stored, [{"dossier": "D", "events": [late, early, dict(late)]}]) == stored


def test_the_fragment_with_the_latest_event_gives_the_header() -> None:
    older = {"dossier": "D", "status": 2, "events": [{"at": "2026-03-02T08:00:00+07:00", "kind": "received"}]}
    newer = {"dossier": "D", "status": 4, "events": [{"at": "2026-03-03T08:00:00+07:00", "kind": "returned"}]}
    assert merge(merge(None, [newer]), [older])["status"] == 4 == merge(None, [newer, older])["status"]


def test_the_step_source_rule_picks_by_procedure_then_agency_then_default() -> None:
    from isobridge.core.merge import StepAuthority, admit

    def event(source: str, hour: int) -> dict:
        return admit({"dossier": "D", "events": [{"at": f"2026-03-02T0{hour}:00:00+07:00", "kind": "handover"}]}, source)

    record = merge(None, [event("onegate", 8), event("portal", 9), event("commune", 7)])
    rule = StepAuthority(["onegate"], procedures={"1.001612": ["portal", "onegate"]}, agencies={"UBND xã": ["commune"]})
    assert {e["source"] for e in rule.view(record)["events"]} == {"onegate"}
    assert {e["source"] for e in rule.view(dict(record, agency="UBND xã"))["events"]} == {"commune"}
    assert {e["source"] for e in rule.view(dict(record, procedure="1.001612", agency="UBND xã"))["events"]} == {"portal"}
    # no listed source has events: every source's events count, each event once
    same = merge(None, [admit({"dossier": "D", "events": [{"at": "2026-03-02T08:00:00+07:00", "kind": "received"}]}, s)
                        for s in ("a", "b")])
    assert len(same["events"]) == 2 and len(StepAuthority(["onegate"]).view(same)["events"]) == 1


def test_events_stored_before_they_carried_a_source_are_not_counted_twice() -> None:
    from isobridge.core.merge import StepAuthority, admit

    old = {"dossier": "D", "events": [{"at": "2026-03-02T08:00:00+07:00", "kind": "received", "step": "TN"}]}
    stored = merge(None, [old])  # as a ledger made before: no source on the event
    again = merge(stored, [admit(orjson.loads(orjson.dumps(old)), "onestop")])
    assert len(again["events"]) == 2 and len(StepAuthority().view(again)["events"]) == 1


@settings(max_examples=200, deadline=None)
@given(fragments, st.booleans())
def test_admission_gives_the_same_dossier_whichever_path_a_fragment_takes(parts: list[dict], nfd: bool) -> None:
    """The usual fragment is admitted in place; any other is rebuilt: both give the same bytes."""
    import unicodedata
    from isobridge.core.merge import admit

    def copy(value: object) -> object:
        if isinstance(value, str):
            return unicodedata.normalize("NFD" if nfd else "NFC", value)
        if isinstance(value, list):
            return [copy(item) for item in value]
        if isinstance(value, dict):
            return {key: copy(item) for key, item in value.items()}
        return value

    usual = merge(None, [admit(orjson.loads(orjson.dumps(p)), "s") for p in parts])
    rebuilt = merge(None, [admit(dict(copy(p), extra="x"), "s") for p in parts])  # an unknown field: rebuilt
    assert blob(usual) == blob(rebuilt)


def test_a_status_update_without_events_ranks_by_its_as_of() -> None:
    from isobridge.core.merge import admit

    timeline = admit({"dossier": "D", "status": 2, "events": [{"at": "2026-03-02T08:00:00+07:00", "kind": "received"}]}, "a")
    update = admit({"dossier": "D", "status": 4, "as_of": "2026-03-05T10:00:00+07:00"}, "b")
    merged = merge(None, [timeline, update])
    assert merged["status"] == 4 == merge(merge(None, [update]), [timeline])["status"]
    assert "as_of" not in merged and "as_of" not in merge(None, [update])
    stale = admit({"dossier": "D", "status": 4}, "b")  # no instant at all: it only fills gaps
    assert merge(None, [timeline, stale])["status"] == 2
