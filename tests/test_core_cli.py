"""`isobridge evaluate`, `generate` and `schema` end to end: outputs, rejects, exit status, summary."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from pathlib import Path

from isobridge.core import samples
from isobridge.core.cli import main
from isobridge.core.models import Evidence

SCRIPT = Path(sys.executable).with_name("isobridge")
ISOBRIDGE = [str(SCRIPT)] if SCRIPT.exists() else [
    sys.executable, "-c", "import sys; from isobridge.core.cli import main; sys.exit(main())"]

GOOD = {
    "dossier": "HS-OK", "procedure": "2.000908", "agency": "UBND xã", "channel": "direct",
    "received_at": "2025-03-03T08:00:00+07:00", "status": 10,
    "events": [
        {"at": "2025-03-03T08:00:00+07:00", "kind": "received", "step": "TN"},
        {"at": "2025-03-03T08:30:00+07:00", "kind": "handover", "step": "CT"},
        {"at": "2025-03-03T10:00:00+07:00", "kind": "handover", "step": "TKQ"},
        {"at": "2025-03-03T10:05:00+07:00", "kind": "resolved"},
        {"at": "2025-03-03T10:30:00+07:00", "kind": "returned"},
    ],
}
BAD_LINES = {
    2: ("{not json", "invalid JSON"),
    3: ('{"dossier": "HS-2"}', "procedure: missing"),
    5: (json.dumps({**GOOD, "dossier": "HS-3", "received_at": "2025-03-03T08:00:00"}), "has no UTC offset"),
    6: (json.dumps({**GOOD, "dossier": "HS-4", "procedure": "9.999999"}), "unknown procedure '9.999999'"),
}


def case_log() -> bytes:
    """Line 1 good, 2–3 bad, 4 blank, 5–6 bad, 7 good (line numbers count the blank line)."""
    lines = [json.dumps(GOOD), BAD_LINES[2][0], BAD_LINES[3][0], "", BAD_LINES[5][0], BAD_LINES[6][0],
             json.dumps({**GOOD, "dossier": "HS-OK2"})]
    return ("\n".join(lines) + "\n").encode()


def check_rejects(path) -> None:
    rejects = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [r["line"] for r in rejects] == sorted(BAD_LINES)
    for reject in rejects:
        text, reason = BAD_LINES[reject["line"]]
        assert reject["text"] == text
        assert any(reason in error for error in reject["errors"]), reject


def check_evidence(data: bytes) -> None:
    lines = data.decode().splitlines()
    assert [json.loads(line)["dossier"] for line in lines] == ["HS-OK", "HS-OK2"]
    evidence = Evidence.model_validate_json(lines[0])
    assert evidence.verdict == "early" and evidence.nonconformities == []


def test_evaluate_file_with_rejects(tmp_path, capsys):
    cases, out = tmp_path / "cases.jsonl", tmp_path / "evidence.jsonl"
    cases.write_bytes(case_log())
    status = main(["evaluate", str(cases), "--out", str(out), "--workers", "1", "--as-of", "2025-04-01T00:00:00+07:00"])
    assert status == 3
    check_evidence(out.read_bytes())
    check_rejects(tmp_path / "evidence.rejects.jsonl")
    summary = capsys.readouterr().err
    assert "evaluated 2 dossiers (10 events)" in summary and "rejected 4" in summary
    assert "evidence.rejects.jsonl" in summary


def test_evaluate_clean_file_exits_zero_without_a_rejects_file(tmp_path, capsys):
    cases, out = tmp_path / "cases.jsonl", tmp_path / "evidence.jsonl"
    cases.write_text(json.dumps(GOOD) + "\n", encoding="utf-8")
    assert main(["evaluate", str(cases), "--out", str(out), "--workers", "1"]) == 0
    assert not (tmp_path / "evidence.rejects.jsonl").exists()
    assert "rejected 0" in capsys.readouterr().err


def test_evaluate_stdin(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(case_log())))
    out, rejects = tmp_path / "ev.jsonl", tmp_path / "bad.jsonl"
    assert main(["evaluate", "-", "--out", str(out), "--rejects", str(rejects), "--workers", "1"]) == 3
    check_evidence(out.read_bytes())
    check_rejects(rejects)


def test_evaluate_subprocess_stdout_and_workers(tmp_path):
    """The real console path: stdin to stdout, several worker processes, exit status 3."""
    rejects = tmp_path / "r.jsonl"
    lines = case_log() * 1500  # enough lines for several chunks, line numbers keep counting
    done = subprocess.run(
        [*ISOBRIDGE, "evaluate", "-", "--rejects", str(rejects), "--workers", "2"],
        input=lines, capture_output=True, cwd=tmp_path, timeout=120,
    )
    assert done.returncode == 3, done.stderr
    assert len(done.stdout.splitlines()) == 3000
    assert b"evaluated 3000 dossiers" in done.stderr and b"rejected 6000" in done.stderr
    numbers = [json.loads(line)["line"] for line in rejects.read_text(encoding="utf-8").splitlines()]
    assert numbers == sorted(n + 7 * k for k in range(1500) for n in BAD_LINES)


def test_evaluate_missing_input_is_a_clean_failure(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o.jsonl")]) == 1
    assert "isobridge evaluate:" in capsys.readouterr().err


def test_as_of_needs_an_offset(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "-", "--as-of", "2025-01-01T00:00:00"])
    assert "needs a UTC offset" in capsys.readouterr().err


def test_schema_evidence(capsys):
    assert main(["schema", "evidence"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "Evidence"
    assert {"dossier", "procedure", "verdict", "due_at", "computed_due_at", "finished_at", "steps",
            "nonconformities", "calendar"} <= set(schema["properties"])


def test_generate_is_reproducible_and_evaluates_cleanly(tmp_path, capsys):
    first, second, other = (tmp_path / name for name in ("a.jsonl", "b.jsonl", "c.jsonl"))
    main(["generate", "--dossiers", "300", "--out", str(first)])
    main(["generate", "--dossiers", "300", "--out", str(second)])
    main(["generate", "--dossiers", "300", "--seed", "7", "--out", str(other)])
    assert first.read_bytes() == second.read_bytes() != other.read_bytes()
    assert len(first.read_bytes().splitlines()) == 300
    out = tmp_path / "ev.jsonl"
    status = main(["evaluate", str(first), "--out", str(out), "--workers", "1",
                   "--procedures", str(samples.PROCEDURES), "--calendar", str(samples.CALENDAR)])
    assert status == 0
    for line in out.read_bytes().splitlines():
        Evidence.model_validate_json(line)
