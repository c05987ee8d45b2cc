"""The `xes` sink: schema-valid IEEE 1849-2016 logs, idempotent and exactly-once under kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from lxml import etree

from isobridge.core import SinkFileError
from isobridge.adapters.xes.sink import XesOptions, XesSink
from isobridge.adapters.xes.xml import attr, timestamp
from isobridge.core.plugins import load_plugins

from evid_support import XES_XSD, context, evidence, items

SCHEMA = etree.XMLSchema(etree.parse(str(XES_XSD)))


def open_sink(path, state):
    return XesSink(XesOptions(adapter="xes", path=path), context(state))


def parse(path):
    doc = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
    assert SCHEMA.validate(doc), SCHEMA.error_log
    return doc


def trace_names(doc):
    return [t.find("string[@key='concept:name']").get("value") for t in doc.findall("trace")]


def test_registered_as_plugin():
    assert load_plugins().sink("xes") is XesSink


def test_log_is_valid_and_carries_the_evidence(tmp_path):
    records = evidence(120)
    path = tmp_path / "out" / "evidence.xes"
    sink = open_sink(path, {})
    result = sink.write(items(records))
    sink.close()
    assert sorted(result.accepted) == sorted(f"{e['dossier']}@1" for e in records) and not result.rejected
    doc = parse(path)
    root = doc.getroot()
    assert root.get("xes.version") == "1849.2016"
    assert {e.get("prefix") for e in root.findall("extension")} == {"concept", "time", "lifecycle", "org"}
    assert trace_names(doc) == [e["dossier"] for e in records]
    first, trace = records[0], doc.findall("trace")[0]
    verdict = trace.find("string[@key='evidence:verdict']").get("value")
    assert verdict == first["verdict"]
    events = trace.findall("event")
    finished = sum(1 for row in first["steps"] if row["finished_at"])
    assert len(events) == len(first["steps"]) + finished
    start = events[0]
    assert start.find("date[@key='time:timestamp']").get("value") == first["steps"][0]["started_at"]
    assert start.find("string[@key='org:group']").get("value") == first["steps"][0]["unit"]
    assert start.find("string[@key='lifecycle:transition']").get("value") == "start"
    # Activities are the procedures' step names, in Vietnamese.
    assert start.find("string[@key='concept:name']").get("value").startswith("Tiếp nhận")


def test_timestamps_keep_their_offsets(tmp_path):
    path = tmp_path / "e.xes"
    sink = open_sink(path, {})
    sink.write(items(evidence(30)))
    sink.close()
    stamps = [d.get("value") for d in parse(path).iter("date")]
    assert stamps and all(s.endswith(("+07:00", "+00:00", "Z")) for s in stamps)


def test_hostile_text_is_escaped(tmp_path):
    record = evidence(1)[0]
    record["agency"] = 'A & B <script>"x"</script>\n\x01'
    record["steps"][0]["unit"] = "]]></string><evil/>"
    path = tmp_path / "e.xes"
    sink = open_sink(path, {})
    sink.write(items([record]))
    sink.close()
    trace = parse(path).find("trace")
    assert trace.find("string[@key='evidence:agency']").get("value") == 'A & B <script>"x"</script>\n\ufffd'
    assert trace.find("event/string[@key='org:group']").get("value") == "]]></string><evil/>"


def test_idempotent_by_key_and_valid_between_batches(tmp_path):
    records = evidence(60)
    path, state = tmp_path / "e.xes", {}
    sink = open_sink(path, state)
    sink.write(items(records[:40]))
    parse(path)  # well-formed after every batch
    again = sink.write(items(records[20:60]) + items(records[:5]))
    sink.close()
    assert len(again.accepted) == 45
    sink = open_sink(path, state)  # reopened: keys survive
    sink.write(items(records[:10]))
    sink.write(items(records[:3], revision=2))
    sink.close()
    names = trace_names(parse(path))
    assert len(names) == 63 and names[:60] == [e["dossier"] for e in records]


def test_bad_record_is_rejected_with_reason(tmp_path):
    record = evidence(1)[0]
    broken = dict(record, dossier="HS-BROKEN")
    del broken["steps"]
    no_offset = dict(record, dossier="HS-LOCAL")
    no_offset["steps"] = [dict(record["steps"][0], started_at="2025-07-01T08:00:00")]
    sink = open_sink(tmp_path / "e.xes", {})
    result = sink.write(items([broken, no_offset, record]))
    sink.close()
    assert result.accepted == [f"{record['dossier']}@1"]
    assert "missing field 'steps'" in result.rejected["HS-BROKEN@1"]
    assert "no UTC offset" in result.rejected["HS-LOCAL@1"]
    assert trace_names(parse(tmp_path / "e.xes")) == [record["dossier"]]


def test_unacknowledged_tail_is_dropped_on_open(tmp_path):
    records = evidence(30)
    path, state = tmp_path / "e.xes", {}
    sink = open_sink(path, state)
    sink.write(items(records[:10]))
    committed = dict(state)
    sink.write(items(records[10:20]))  # written, but the host never stored the new state
    sink.close()
    with open(path, "ab") as f:
        f.write(b"<trace><string key='half")  # a torn write
    sink = open_sink(path, dict(committed))
    result = sink.write(items(records[10:30]))
    sink.close()
    assert len(result.accepted) == 20
    assert trace_names(parse(path)) == [e["dossier"] for e in records]


def test_refuses_a_foreign_file(tmp_path):
    path = tmp_path / "mine.xes"
    path.write_text("precious data")
    with pytest.raises(SinkFileError, match="not written by this sink"):
        open_sink(path, {})
    assert path.read_text() == "precious data"


def test_escape_helpers():
    assert attr("plain") == "plain"
    assert attr('<&">') == "&lt;&amp;&quot;&gt;"
    assert timestamp("2025-07-01T08:00:00+07:00") == "2025-07-01T08:00:00+07:00"
    assert timestamp("2025-07-01 08:00:00+0700") == "2025-07-01T08:00:00+07:00"


HOST = r'''
import json, os, sys, time
sys.path.insert(0, sys.argv[3])
from evid_support import context, evidence, items
from isobridge.adapters.xes.sink import XesOptions, XesSink
path, state_file = sys.argv[1], sys.argv[2]
state = json.load(open(state_file)) if os.path.exists(state_file) else {}
sink = XesSink(XesOptions(adapter="xes", path=path, fsync=False), context(state))
records = evidence(400)
done = state.get("acked", 0)
while done < len(records):
    batch = records[done:done + 7]
    sink.write(items(batch))
    done += len(batch)
    state["acked"] = done
    tmp = state_file + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, state_file)   # the host persists state and acknowledgement atomically
    sink.write(items(records[done:done + 3]))  # the next batch goes out before the host stores it
    time.sleep(0.005)
print("finished", flush=True)
'''


def _acked(state_file) -> int:
    try:
        return json.loads(state_file.read_text())["acked"]
    except (OSError, ValueError, KeyError):
        return 0


def test_exactly_once_under_kill_9(tmp_path):
    script = tmp_path / "host.py"
    script.write_text(HOST)
    path, state_file = tmp_path / "e.xes", tmp_path / "state.json"
    here = os.path.dirname(__file__)
    acked = []
    for round_ in range(3):
        child = subprocess.Popen([sys.executable, str(script), str(path), str(state_file), here],
                                 stdout=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while _acked(state_file) <= (acked[-1] if acked else 0) and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(0.003 * round_)
        child.send_signal(signal.SIGKILL)
        child.wait()
        acked.append(_acked(state_file))
    assert 0 < acked[0] < acked[-1] < 400, acked  # killed mid-stream, each time further on
    finish = subprocess.run([sys.executable, str(script), str(path), str(state_file), here],
                            capture_output=True, text=True, timeout=120)
    assert "finished" in finish.stdout, finish.stderr
    names = trace_names(parse(path))
    assert names == [e["dossier"] for e in evidence(400)]
    assert json.loads(state_file.read_text())["acked"] == 400
