"""The sync job: checkpoints, revisions, quarantine and replay, sink failures, locks, secrets."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest

from isobridge.adapters.caselog import CaselogSource
from isobridge.core import samples
from isobridge.core.adapters import Sink, SinkUnavailable, WriteResult
from isobridge.core.calendar import WorkingCalendar
from isobridge.core.cli import main
from isobridge.core.cli import common
from isobridge.core.generate import CaseLogGenerator
from isobridge.core.hookspecs import hookimpl
from isobridge.core.ledger import Ledger, plain_blob
from isobridge.core.plugins import load_plugins
from isobridge.core.procedures import ProcedureBook
from isobridge.core.settings import load_settings
from isobridge.core.merge import merge

AS_OF = "2026-11-01T00:00:00+07:00"


def write_cases(path: Path, count: int, seed: int = 1) -> list[dict]:
    """Write `count` generated dossiers to `path`; return them."""
    generator = CaseLogGenerator(ProcedureBook.from_dir(samples.PROCEDURES),
                                 WorkingCalendar.from_file(samples.CALENDAR), seed)
    records = list(generator.records(count))
    with open(path, "ab") as out:
        for record in records:
            out.write(orjson.dumps(record) + b"\n")
    return records


@pytest.fixture
def deployment(tmp_path: Path, ledger_toml: str) -> Path:
    """A deployment folder with a case-log folder and a config writing jsonl + ledger sinks, its
    ledger on each backend in turn (SQLite, PostgreSQL)."""
    (tmp_path / "in").mkdir()
    (tmp_path / "conf.toml").write_text(
        f'{ledger_toml}[sync]\nbatch_size = 50\n'
        '[sources.onestop]\nadapter = "caselog"\nfolder = "in"\npage_lines = 40\n'
        '[sinks.evidence]\nadapter = "jsonl"\npath = "out/evidence.jsonl"\n'
        '[sinks.history]\nadapter = "ledger"\npath = "history.db"\n', encoding="utf-8")
    return tmp_path


def ledger_of(folder: Path) -> Ledger:
    """The ledger of the deployment in `folder`, whichever backend it is on."""
    return Ledger.open(load_settings(folder / "conf.toml").ledger)


def wait_for_locks(folder: Path, *names: str) -> None:
    """Wait (up to 10 s each) until these locks are free: a PostgreSQL server ends the session of a
    killed process a moment after, and only then are its locks free."""
    ledger = ledger_of(folder)
    try:
        for name in names:
            ledger.acquire(name, wait_seconds=10)
            ledger.release(name)
    finally:
        ledger.close()


@contextmanager
def ledger_db(folder: Path) -> Iterator:
    """A connection to the deployment's ledger (SQLite or PostgreSQL: the same SQL), closed after."""
    ledger = ledger_of(folder)
    try:
        yield ledger.db
    finally:
        ledger.close()


def add_procedure(deployment: Path, tmp_path: Path, code: str) -> None:
    """The operator's fix: the sample procedures plus `code` (a copy of 2.000908), configured."""
    procedures = tmp_path / "procedures"
    procedures.mkdir()
    for path in samples.PROCEDURES.glob("*.toml"):
        (procedures / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    text = (samples.PROCEDURES / "2.000908.toml").read_text(encoding="utf-8")
    (procedures / f"{code}.toml").write_text(text.replace('"2.000908"', f'"{code}"'), encoding="utf-8")
    with open(deployment / "conf.toml", "a") as conf:
        conf.write(f'[procedures]\ndir = "{procedures}"\n')


def sync(folder: Path, *extra: str) -> int:
    return main(["sync", "--config", str(folder / "conf.toml"), "--as-of", AS_OF, *extra])


def evidence_lines(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "out/evidence.jsonl").read_text().splitlines()]


def test_sync_delivers_each_revision_once_and_resumes(deployment: Path) -> None:
    records = write_cases(deployment / "in/a.jsonl", 120)
    assert sync(deployment) == 0
    assert sync(deployment) == 0  # nothing new: nothing written
    lines = evidence_lines(deployment)
    assert sorted(line["dossier"] for line in lines) == sorted(r["dossier"] for r in records)
    assert {line["revision"] for line in lines} == {1}
    # the same dossier again with one more event and another channel: a new revision, the old
    # one untouched (an event that changes no finding would make none: the evidence is the same)
    first = dict(records[0], channel="online" if records[0].get("channel") != "online" else "direct")
    first["events"] = first["events"] + [{"at": "2026-10-30T09:00:00+07:00", "kind": "apology_issued", "reason": "x"}]
    write_cases(deployment / "in/b.jsonl", 5, seed=2)
    with open(deployment / "in/b.jsonl", "ab") as out:
        out.write(orjson.dumps(first) + b"\n" + orjson.dumps(records[1]) + b"\n")
    assert sync(deployment) == 0
    lines = evidence_lines(deployment)
    keys = [(line["dossier"], line["revision"]) for line in lines]
    assert len(keys) == len(set(keys)) == 120 + 5 + 1
    assert (first["dossier"], 2) in keys and (records[1]["dossier"], 2) not in keys
    with sqlite3.connect(deployment / "history.db") as db:
        assert db.execute("SELECT count(*) FROM evidence").fetchone()[0] == 126


def test_bad_records_are_quarantined_then_replayed(deployment: Path, tmp_path: Path, capsys) -> None:
    write_cases(deployment / "in/a.jsonl", 10)
    unknown = {"dossier": "H-UNKNOWN-1", "procedure": "9.999999", "received_at": "2025-08-01T08:00:00+07:00",
               "status": 4, "events": [{"at": "2025-08-01T08:00:00+07:00", "kind": "received"}]}
    with open(deployment / "in/a.jsonl", "a", encoding="utf-8") as out:
        out.write('{"dossier": "broken\n' + json.dumps(unknown) + "\n")
    assert sync(deployment) == 3
    ledger = ledger_of(deployment)
    entries = ledger.quarantined()
    assert [(e.stage, e.payload.startswith('{"dossier": "broken')) for e in entries][0] == ("map", True)
    assert entries[1].stage == "evaluate" and "unknown procedure '9.999999'" in entries[1].errors[0]
    assert len(evidence_lines(deployment)) == 10
    # the operator adds the missing procedure and replays
    add_procedure(deployment, tmp_path, "9.999999")
    capsys.readouterr()
    assert main(["quarantine", "replay", str(entries[1].id), "--config", str(deployment / "conf.toml")]) == 0
    assert "replayed" in capsys.readouterr().out
    assert [line["dossier"] for line in evidence_lines(deployment)][-1] == "H-UNKNOWN-1"
    assert [e.stage for e in ledger.quarantined()] == ["map"]
    assert main(["quarantine", "discard", str(entries[0].id), "--config", str(deployment / "conf.toml")]) == 0
    assert ledger.quarantined() == []


class FlakySink(Sink):
    """A sink that is down while `down` is set and refuses dossiers listed in `refuse`."""

    name = "flaky"
    down = True
    refuse: set[str] = set()
    received: list[str] = []

    def write(self, batch):
        if FlakySink.down:
            raise SinkUnavailable("connection refused")
        accepted = [i.key for i in batch if i.dossier not in FlakySink.refuse]
        FlakySink.received.extend(accepted)
        return WriteResult(accepted, {i.key: "HTTP 422: unknown agency" for i in batch if i.dossier in FlakySink.refuse})


class FlakyPlugin:
    @hookimpl
    def register_sinks(self, register):
        register(FlakySink)


def test_sink_down_stops_cleanly_and_backlog_drains(deployment: Path, monkeypatch) -> None:
    monkeypatch.setattr(common, "load_plugins", lambda: load_plugins(extra=[FlakyPlugin()]))
    with open(deployment / "conf.toml", "a") as conf:
        conf.write('[sinks.qms]\nadapter = "flaky"\n')
    records = write_cases(deployment / "in/a.jsonl", 60)
    FlakySink.down, FlakySink.received, FlakySink.refuse = True, [], {records[3]["dossier"]}
    assert sync(deployment) == 1
    ledger = ledger_of(deployment)
    assert ledger.checkpoint("onestop") is None
    FlakySink.down = False
    assert sync(deployment) == 3  # one item refused by the server: quarantined, the rest delivered
    assert sorted(FlakySink.received) == sorted(f"{r['dossier']}@1" for r in records[:]
                                                 if r["dossier"] != records[3]["dossier"])
    assert [e.stage for e in ledger.quarantined()] == ["write"]
    assert "HTTP 422" in ledger.quarantined()[0].errors[0]
    assert ledger.backlog() == 0 and ledger.checkpoint("onestop") is not None
    assert len(evidence_lines(deployment)) == 60  # the other sinks got everything exactly once


def hold(deployment: Path, host: str | None = None, seen: str = "2026-01-01T00:00:00+00:00") -> Ledger:
    """Another process's hold on the lock of source `onestop`: on SQLite its leased row (pid: this
    test's parent process, alive; `host`: another machine), on PostgreSQL a session of its own."""
    ledger = ledger_of(deployment)
    if ledger.path is None:
        ledger.acquire("source:onestop")
    else:
        ledger.db.execute("INSERT INTO locks VALUES ('source:onestop', ?, ?, ?)",
                          (os.getppid() if host is None else 1, host or __import__("socket").gethostname(), seen))
    return ledger


def test_second_sync_of_same_source_refuses(deployment: Path, capsys) -> None:
    write_cases(deployment / "in/a.jsonl", 5)
    holder = hold(deployment)  # noqa: F841 - held while it lives
    assert sync(deployment) == 4
    assert "the sync of source 'onestop' is held" in capsys.readouterr().err
    assert not (deployment / "out/evidence.jsonl").exists()  # refused before any sink was opened


def test_a_dead_holders_lock_is_taken_over(deployment: Path, capsys) -> None:
    write_cases(deployment / "in/a.jsonl", 5)
    # a pod killed long ago on another host: its lease ran out (PostgreSQL: its connection is gone)
    holder = hold(deployment, "isobridge-sync-29012345-abcde")
    if holder.path is None:
        holder.db.db.close()
        wait_for_locks(deployment, "source:onestop")
    assert sync(deployment) == 0
    # one on another host that renewed its lease just now is still respected (PostgreSQL: a live session)
    live = hold(deployment, "isobridge-sync-29012346-fghij", __import__("isobridge.core.ledger", fromlist=["now_text"]).now_text())
    assert sync(deployment) == 4
    assert main(["state", "unlock", "--config", str(deployment / "conf.toml")]) == 0
    assert sync(deployment) == 0
    live.close()


def test_dry_run_writes_nothing(deployment: Path) -> None:
    write_cases(deployment / "in/a.jsonl", 20)
    assert sync(deployment, "--dry-run") == 0
    ledger = ledger_of(deployment)
    assert ledger.checkpoint("onestop") is None
    assert not (deployment / "out/evidence.jsonl").exists() or not evidence_lines(deployment)


def test_planted_secret_never_reaches_logs(deployment: Path, monkeypatch, capsys) -> None:
    secret = "S3cr3t-Planted-Key-4242"
    monkeypatch.setenv("ISOBRIDGE_PRIVACY__PSEUDONYM_KEY", secret)
    monkeypatch.setenv("ISOBRIDGE_SOURCES__ONESTOP__API_TOKEN", secret)
    write_cases(deployment / "in/a.jsonl", 3)
    settings = load_settings(deployment / "conf.toml")
    assert secret not in repr(settings) and secret not in str(settings.privacy)
    # an option the caselog source does not know: a configuration error, the value never shown
    status = main(["sync", "--config", str(deployment / "conf.toml"), "--log-format", "json", "--log-level", "DEBUG"])
    captured = capsys.readouterr()
    assert status == 1 and "api_token" in captured.err
    assert secret not in captured.err + captured.out
    # a failure whose message carries the secret (here: a path) is masked too
    monkeypatch.delenv("ISOBRIDGE_SOURCES__ONESTOP__API_TOKEN")
    monkeypatch.setenv("ISOBRIDGE_SINKS__EVIDENCE__PATH", f"/proc/forbidden-{secret}/x.jsonl")
    status = main(["sync", "--config", str(deployment / "conf.toml"), "--log-format", "json"])
    captured = capsys.readouterr()
    assert status == 1 and "***" in captured.err
    assert secret not in captured.err + captured.out


def test_environment_overrides_the_file(deployment: Path, monkeypatch) -> None:
    monkeypatch.setenv("ISOBRIDGE_SINKS__EVIDENCE__PATH", "elsewhere.jsonl")
    monkeypatch.setenv("ISOBRIDGE_SYNC__BATCH_SIZE", "7")
    settings = load_settings(deployment / "conf.toml")
    assert settings.sinks["evidence"]["path"] == "elsewhere.jsonl"
    assert settings.sync.batch_size == 7


def test_merge_is_idempotent_and_order_free() -> None:
    a = {"dossier": "D", "events": [{"at": "2025-01-02T08:00:00+07:00", "kind": "handover", "step": "B"}]}
    b = {"dossier": "D", "procedure": "P", "received_at": "2025-01-01T08:00:00+07:00", "status": 4,
         "events": [{"at": "2025-01-01T08:00:00+07:00", "kind": "received", "step": "A"}]}
    once = merge(None, [a, b])
    assert merge(once, [a, b]) == once == merge(None, [b, a])
    assert [e["step"] for e in once["events"]] == ["A", "B"]


def test_secret_files_fill_nested_settings(deployment: Path, tmp_path: Path, monkeypatch) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "privacy__pseudonym_key").write_text("from-a-file")
    (secrets / "sources__onestop__password").write_text("pw-from-a-file")
    monkeypatch.setenv("ISOBRIDGE_SECRETS_DIR", str(secrets))
    settings = load_settings(deployment / "conf.toml")
    assert settings.privacy.pseudonym_key.get_secret_value() == "from-a-file"
    assert settings.sources["onestop"]["password"].get_secret_value() == "pw-from-a-file"
    assert "pw-from-a-file" not in repr(settings) and "pw-from-a-file" in settings.secrets()


def test_pipelined_pages_with_a_dossier_in_consecutive_pages(deployment: Path) -> None:
    """Big pages go to the evaluation workers while the page before is stored; a dossier seen
    again in the very next page waits for that page, and gets revision 2, once."""
    conf = deployment / "conf.toml"
    conf.write_text(conf.read_text().replace("page_lines = 40", "page_lines = 600"))
    records = write_cases(deployment / "in/a.jsonl", 1300)
    again = records[600:650] + records[:100]
    with open(deployment / "in/a.jsonl", "ab") as out:
        for record in again:
            out.write(orjson.dumps(_grown(record)) + b"\n")
    assert sync(deployment) == 0
    keys = [(line["dossier"], line["revision"]) for line in evidence_lines(deployment)]
    assert len(keys) == len(set(keys)) == 1300 + len(again)
    twice = {r["dossier"] for r in again}
    assert {d for d, revision in keys if revision == 2} == twice


def test_malformed_event_fields_are_quarantined_and_the_run_goes_on(deployment: Path) -> None:
    records = write_cases(deployment / "in/a.jsonl", 6)
    bad = dict(records[0], dossier="BAD-1", events=[dict(records[0]["events"][0], step=["TN"])])
    far = dict(records[1], dossier="BAD-2", received_at="9999-12-31T23:59:59-07:00")
    with open(deployment / "in/a.jsonl", "ab") as out:
        out.write(orjson.dumps(bad) + b"\n" + orjson.dumps(far) + b"\n")
    write_cases(deployment / "in/b.jsonl", 4, seed=5)
    assert sync(deployment) == 3
    entries = {e.key.split(":")[0] + e.stage: e for e in ledger_of(deployment).quarantined()}
    assert "events[0].step: expected text, got list" in entries["a.jsonlmap"].errors[0]
    assert "received_at" in entries["a.jsonlevaluate"].errors[0]
    assert len(evidence_lines(deployment)) == 10  # every good dossier delivered, before and after


def test_replay_reevaluates_a_dossier_that_had_evidence_before(deployment: Path, tmp_path: Path, capsys) -> None:
    records = write_cases(deployment / "in/a.jsonl", 3)
    assert sync(deployment) == 0
    changed = dict(records[0], procedure="9.999999",
                   events=records[0]["events"] + [{"at": "2026-10-30T09:00:00+07:00", "kind": "apology_issued"}])
    with open(deployment / "in/a.jsonl", "ab") as out:
        out.write(orjson.dumps(changed) + b"\n")
    assert sync(deployment) == 3
    add_procedure(deployment, tmp_path, "9.999999")
    assert main(["quarantine", "replay", "all", "--config", str(deployment / "conf.toml")]) == 0
    last = evidence_lines(deployment)[-1]
    assert (last["dossier"], last["revision"], last["procedure"]) == (records[0]["dossier"], 2, "9.999999")


def test_quarantined_payloads_hold_no_personal_data_in_clear(deployment: Path) -> None:
    records = write_cases(deployment / "in/a.jsonl", 2)
    person = dict(records[0], dossier="P-1", procedure="9.999999", applicant_name="Nguyễn Văn Công",
                  id_number="079199012345")
    truncated = orjson.dumps(dict(person, dossier="P-2", events=[{"actor": "Trần Thị Bích"}]))[:-14]
    with open(deployment / "in/a.jsonl", "ab") as out:
        out.write(orjson.dumps(person) + b"\n" + truncated + b"\n")
    assert sync(deployment) == 3
    by_stage = {entry.stage: entry for entry in ledger_of(deployment).quarantined()}
    entry, broken = by_stage["evaluate"], by_stage["map"]
    assert "Nguyễn Văn Công" not in entry.payload and "079199012345" not in entry.payload
    assert '"procedure":"9.999999"' in entry.payload  # the rest of the original is kept for replay
    # a line that is not JSON at all (cut off inside the officer's name) is scrubbed as text
    assert '"dossier":"P-2"' in broken.payload
    assert not any(name in broken.payload for name in ("Nguyễn Văn Công", "079199012345", "Trần Thị"))


def test_pending_counts_only_dossiers_still_missing_their_header(deployment: Path) -> None:
    events_only = {"dossier": "E-1", "events": [{"at": "2025-08-01T08:00:00+07:00", "kind": "handover",
                                                 "step": "TD", "unit": "Sở Xây dựng"}]}
    unknown = {"dossier": "U-1", "procedure": "9.999999", "received_at": "2025-08-01T08:00:00+07:00",
               "status": 4, "events": []}
    (deployment / "in/a.jsonl").write_bytes(orjson.dumps(events_only) + b"\n" + orjson.dumps(unknown) + b"\n")
    assert sync(deployment) == 3
    ledger = ledger_of(deployment)
    assert ledger.pending_count() == 1  # E-1 waits for its header; U-1 is quarantined, not pending
    header = {"dossier": "E-1", "procedure": "2.000908", "received_at": "2025-08-01T07:45:00+07:00", "status": 4}
    with open(deployment / "in/a.jsonl", "ab") as out:
        out.write(orjson.dumps(header) + b"\n")
    assert sync(deployment) == 0
    assert ledger.pending_count() == 0
    assert [line["dossier"] for line in evidence_lines(deployment)] == ["E-1"]



def _grown(record: dict) -> dict:
    """The record with one more event and another channel: its evidence changes (a new revision)."""
    return dict(record, channel="online" if record.get("channel") != "online" else "direct", events=record["events"] + [
        {"at": "2026-10-30T09:00:00+07:00", "kind": "apology_issued", "reason": "r"}])


def _synced_with(folder: Path, workers: int, lines: list) -> tuple[list[str], list[tuple], list[tuple]]:
    """Sync `lines` with `workers` workers; the evidence lines (sorted), the ledger's dossiers and quarantine."""
    (folder / "in").mkdir(parents=True)
    (folder / "in/a.jsonl").write_bytes(b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in lines))
    (folder / "conf.toml").write_text(
        f'[ledger]\npath = "ledger.db"\n[sync]\nworkers = {workers}\n[privacy]\npseudonym_key = "k"\n'
        '[sources.onestop]\nadapter = "caselog"\nfolder = "in"\npage_lines = 1000\n'
        '[sinks.evidence]\nadapter = "jsonl"\npath = "out/evidence.jsonl"\n', encoding="utf-8")
    assert sync(folder) == 3  # finished, with quarantined records
    db = sqlite3.connect(folder / "ledger.db")
    rows = db.execute("SELECT dossier, record, record_hash, revision, evidence, verdict, state FROM dossiers"
                      " ORDER BY dossier").fetchall()
    db.close()
    ledger = Ledger(folder / "ledger.db")
    ledger.protect("k")  # the payloads are sealed under the deployment's key
    quarantine = sorted((e.source, e.key, e.stage, e.payload, json.dumps(e.errors)) for e in ledger.quarantined())
    ledger.close()
    return sorted((folder / "out/evidence.jsonl").read_text().splitlines()), rows, quarantine


@pytest.mark.parametrize("parallel_map", [True, False])
def test_dossier_split_across_worker_chunks_and_pages(tmp_path: Path, monkeypatch, parallel_map: bool) -> None:
    """Workers stage chunks of a page against the ledger as it was: a dossier whose lines fall in
    two groups of a chunk, two chunks of one page, or two consecutive pages, is staged again in the main process, and
    the outcome is exactly what one process gives (whether the workers or the main process map)."""
    from isobridge.adapters.caselog import CaselogSource
    monkeypatch.setattr(CaselogSource, "parallel_map", parallel_map)
    records = write_cases(tmp_path / "gen.jsonl", 1900)
    unknown = dict(records[300], dossier="X-1", procedure="9.999999")
    lines = (records[:20] + [_grown(records[5])] + records[20:300] + [b'{"dossier": "X-2", not json', unknown]
             + records[300:700] + [_grown(records[100])]
             + records[700:1900] + [_grown(r) for r in records[950:990]])
    alone, alone_rows, alone_quarantine = _synced_with(tmp_path / "one", 1, lines)
    pooled, pooled_rows, pooled_quarantine = _synced_with(tmp_path / "two", 2, lines)
    assert pooled == alone and pooled_rows == alone_rows and pooled_quarantine == alone_quarantine
    keys = [(line["dossier"], line["revision"]) for line in map(json.loads, pooled)]
    assert len(keys) == len(set(keys)) == 1900 + 40
    assert {d for d, revision in keys if revision == 2} == {r["dossier"] for r in records[950:990]}
    stored = {row[0]: orjson.loads(plain_blob(row[1])) for row in pooled_rows}
    for twice in (records[5], records[100]):  # two lines in one chunk, in two chunks: merged
        assert stored[twice["dossier"]]["events"][-1]["kind"] == "apology_issued"
    assert [(row[2], row[3][:12]) for row in pooled_quarantine] == [("map", '{"dossier": '), ("evaluate", '{"dossier":"')]
    assert "X-1" in pooled_quarantine[1][3] and "9.999999" in pooled_quarantine[1][4]


def test_a_sink_added_later_starts_at_the_log_end_unless_it_backfills(deployment: Path) -> None:
    records = write_cases(deployment / "in/a.jsonl", 30)
    assert sync(deployment) == 0
    with open(deployment / "in/a.jsonl", "ab") as out:  # a second revision of 5 dossiers
        out.write(b"".join(orjson.dumps(_grown(r)) + b"\n" for r in records[:5]))
    assert sync(deployment) == 0
    with open(deployment / "conf.toml", "a") as conf:
        conf.write('[sinks.later]\nadapter = "jsonl"\npath = "out/later.jsonl"\n'
                   '[sinks.dashboard]\nadapter = "jsonl"\npath = "out/dashboard.jsonl"\nbackfill = true\n')
    write_cases(deployment / "in/b.jsonl", 2, seed=7)
    assert sync(deployment) == 0
    later = [json.loads(line) for line in (deployment / "out/later.jsonl").read_text().splitlines()]
    dashboard = [json.loads(line) for line in (deployment / "out/dashboard.jsonl").read_text().splitlines()]
    assert len(later) == 2  # only what came after it was added
    latest = {(d["dossier"], d["revision"]) for d in dashboard}
    assert len(dashboard) == len(latest) == 32  # the latest revision of every dossier, once
    assert {(r["dossier"], 2) for r in records[:5]} <= latest
    assert sync(deployment) == 0 and len((deployment / "out/dashboard.jsonl").read_text().splitlines()) == 32


def test_backfill_must_be_true_or_false(deployment: Path, capsys) -> None:
    with open(deployment / "conf.toml", "a") as conf:
        conf.write('[sinks.dashboard]\nadapter = "jsonl"\npath = "out/d.jsonl"\nbackfill = "yes"\n')
    assert sync(deployment) != 0
    assert "sinks.dashboard.backfill" in capsys.readouterr().err


class FatalCaselog(CaselogSource):
    """A caselog source whose worker dies (as if killed by the OOM killer) on one line, once."""

    name = "fatal-caselog"
    marker: Path | None = None

    def map(self, record):
        if record.key.endswith(":0") and FatalCaselog.marker and not FatalCaselog.marker.exists():
            FatalCaselog.marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return super().map(record)


class FatalPlugin:
    @hookimpl
    def register_sources(self, register):
        register(FatalCaselog)


def test_a_worker_that_dies_fails_the_run_cleanly_and_the_next_run_finishes(deployment: Path, monkeypatch, capsys):
    monkeypatch.setattr(common, "load_plugins", lambda: load_plugins(extra=[FatalPlugin()]))
    FatalCaselog.marker = deployment / "died-once"
    conf = deployment / "conf.toml"
    conf.write_text(conf.read_text().replace('adapter = "caselog"', 'adapter = "fatal-caselog"')
                    .replace("page_lines = 40", "page_lines = 600").replace("batch_size = 50", "batch_size = 50\nworkers = 2"))
    records = write_cases(deployment / "in/a.jsonl", 700)
    assert sync(deployment) == 1  # not a hang: the pool notices the dead worker
    assert FatalCaselog.marker.exists() and "BrokenProcessPool" in capsys.readouterr().err
    assert ledger_of(deployment).checkpoint("onestop") is None
    assert sync(deployment) == 0
    assert sorted(line["dossier"] for line in evidence_lines(deployment)) == sorted(r["dossier"] for r in records)
