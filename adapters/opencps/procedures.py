"""Drafting ISO procedure files from OpenCPS service processes (`/serviceprocesses`)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .source import OpenCPSSource

HANDOVER_STATUSES = frozenset({"new", "processing", "interoperating", "handover", "collecting", "releasing"})


def _q(text: Any) -> str:
    """A TOML basic string (JSON escapes are valid TOML escapes for these characters)."""
    return json.dumps(str(text or ""), ensure_ascii=False)


def _number(value: Any) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def _limit(count: Any, unit: Any) -> str:
    value = _number(count)
    kind = "working_hours" if str(unit) == "1" else "working_days"
    shown = int(value) if value == int(value) else value
    return f'{{ value = {shown}, unit = "{kind}" }}'


def draft_procedure(process: dict, steps: list[dict], roles: dict[str, str]) -> str:
    """The TOML text of one draft procedure for the quality team to review."""
    lines = [
        f"# DRAFT from OpenCPS service process {process.get('serviceProcessId')} "
        f"({process.get('processNo')}); review before use.",
        "# Set `code` to the national procedure code (mã TTHC) and add the [procedures.\"CODE\".steps]",
        "# block below to mappings/opencps.toml.",
        f"code = {_q(process.get('processNo'))}",
        f"name = {_q(process.get('processName'))}",
        'version = "1"',
        f"limit = {_limit(process.get('durationCount'), process.get('durationUnit'))}",
        "pauses = []",
    ]
    kept = [s for s in steps if (s.get("dossierStatus") or "") in HANDOVER_STATUSES]
    kept.sort(key=lambda s: (str(s.get("sequenceNo") or ""), str(s.get("stepCode") or "")))
    for step in kept:
        lines += [
            "", "[[steps]]", f"code = {_q(step.get('stepCode'))}", f"name = {_q(step.get('stepName'))}",
            f"unit = {_q(roles.get(str(step.get('sequenceNo')), ''))}",
            f"limit = {_limit(step.get('durationCount'), process.get('durationUnit'))}",
        ]
    others = sorted(str(s.get("stepCode")) for s in steps if s not in kept and s.get("stepCode"))
    lines += ["", "# mapping for opencps.toml (steps of other statuses: no ISO step of their own):",
              "# [procedures.\"CODE\"]", f"# no_iso_step = {json.dumps(others)}",
              "# [procedures.\"CODE\".steps]"]
    lines += [f"# {_q(s.get('stepCode'))} = {_q(s.get('stepCode'))}" for s in kept]
    return "\n".join(lines) + "\n"


def draft_procedures(source: "OpenCPSSource") -> list[str]:
    """Draft procedure TOML texts, one per configured service process that has steps."""
    http = source.http
    body = http.get_json("serviceprocesses", {"start": 0, "end": 0}, expected="the service process list")
    drafts: list[str] = []
    for process in body.get("data", []) if isinstance(body, dict) else []:
        pid = process.get("serviceProcessId")
        steps = http.get_json(f"serviceprocesses/{pid}/steps", {"start": 0, "end": 0},
                              expected="the steps of a service process")
        sequences = http.get_json(f"serviceprocesses/{pid}/sequences", expected="process sequences")
        roles = {str(s.get("sequenceNo")): s.get("sequenceRole") or ""
                 for s in (sequences.get("data", []) if isinstance(sequences, dict) else [])}
        rows = steps.get("data", []) if isinstance(steps, dict) else []
        if any((r.get("dossierStatus") or "") in HANDOVER_STATUSES for r in rows):
            drafts.append(draft_procedure(process, rows, roles))
    return drafts
