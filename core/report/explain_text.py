"""The operator text of `isobridge explain` (bilingual labels: Vietnamese / English)."""

from __future__ import annotations


def _minutes(value: int | None, basis: str | None) -> str:
    if value is None:
        return "—"
    unit = "calendar" if basis == "calendar" else "working"
    return f"{value} {unit} min ({value / 60:.2f} h)"


def render_text(found: dict) -> str:
    """The explanation as plain text, one fact a line."""
    lines = [f"Hồ sơ / Dossier {found['dossier']}"]
    origin = found["origin"]
    lines.append(f"Nguồn / Read from: {origin['kind']} {origin.get('path', '')}".rstrip())
    for key in ("last_source", "last_record_key", "first_stored_at", "last_stored_at", "revision", "state",
                "case_log", "provenance"):
        if origin.get(key) is not None:
            lines.append(f"  {key}: {origin[key]}")
    for name, at in (origin.get("header_from") or {}).items():
        lines.append(f"  header {name}: from the fragment of {at}")
    lines += _record(found)
    lines += _procedure(found)
    lines += _due(found["due"])
    for row in found["steps"]:
        lines += _step(row)
    verdict = found["verdict"]
    lines += ["", f"Kết quả / Verdict: {verdict['verdict']} — {verdict['detail']}", f"  rule: {verdict['rule']}"]
    lines.append("")
    lines.append(f"Không phù hợp / Nonconformities: {len(found['nonconformities'])}")
    for item in found["nonconformities"]:
        step = f" [{item['step']}]" if item.get("step") else ""
        lines += [f"  - {item['kind']}{step}: {item['detail']}", f"    rule: {item['rule']}"]
    return "\n".join(lines) + "\n"


def _record(found: dict) -> list[str]:
    lines = ["", "Bản ghi / Case record:"]
    if found["record"] is None:
        return lines + ["  (no case record given: --cases FILE, or the ledger of --config)"]
    lines += [f"  {name}: {value}" for name, value in found["record"].items()]
    lines.append("  Sự kiện / Events (at, kind, step, from → unit, actor, reason; source; used by the evaluation):")
    for event in found["events"]:
        route = " → ".join(part for part in (event.get("from_unit"), event.get("unit")) if part)
        parts = [event.get("at"), event.get("kind"), event.get("step"), route, event.get("actor"),
                 event.get("reason"), event.get("new_due_at") and f"new due {event['new_due_at']}"]
        used = "" if event["evaluated"] else " (not evaluated: another source is authoritative)"
        lines.append(f"    {' | '.join(str(p) for p in parts if p)}; source {event['source']}{used}")
    return lines


def _procedure(found: dict) -> list[str]:
    procedure, calendar = found["procedure"], found["calendar"]
    lines = ["", f"Quy trình / Procedure: {procedure['code']} {procedure.get('name', '')}".rstrip()]
    if "version" in procedure:
        limit = procedure["limit"]
        lines.append(f"  version {procedure['version']}, in force from {procedure['effective_from'] or 'always'};"
                     f" limit {limit['value']} {limit['unit']}; clock-stopping reasons: {procedure['pauses'] or 'none'}")
    else:
        lines.append(f"  {procedure['note']}")
    same = "" if calendar["same"] else f" (the evidence was made on {calendar['evidence']}: it differs)"
    lines.append(f"Lịch / Calendar: {calendar['name']} version {calendar['version']}{same}")
    if found["pauses"] is not None:
        lines.append(f"Tạm dừng / Pauses: {len(found['pauses'])}")
        lines += [f"  {p['from']} → {p['to']}: {p['working_minutes']} working min, {p['elapsed_minutes']} elapsed min"
                  for p in found["pauses"]]
    return lines


def _due(due: dict) -> list[str]:
    lines = ["", "Hạn giải quyết / Dossier due:"]
    if "limit" in due:
        lines.append(f"  limit {due['limit']['value']} {due['limit']['unit']} = {_minutes(due['allowed_minutes'], due['time_basis'])}"
                     f" from received {due['received_at']} → computed due {due['computed_due_at']}")
        appointment = due["appointment_due_at"]
        if "paused_minutes" not in due:
            appointment = "unknown (no case record)"
        lines.append(f"  appointment that applied: {appointment or 'none given: the computed due'}")
        for apology in due["apologies"]:
            lines.append(f"  apology {apology['at']} (new due {apology['new_due_at']}: noted, the counting rules do not move the due by it)")
    if "paused_minutes" in due:
        lines.append(f"  pauses taken out: {_minutes(due['paused_minutes'], due['time_basis'])} → effective due {due['due_at']}"
                     + ("" if due["agrees"] else f" (evidence says {due['evidence_due_at']})"))
    else:
        lines.append(f"  evidence: computed due {due['evidence_computed_due_at']}, effective due {due['evidence_due_at']},"
                     f" paused {due['evidence_paused_minutes']} working min")
    if due.get("note"):
        lines.append(f"  note: {due['note']}")
    lines.append(f"  rule: {due['rule']}")
    return lines


def _step(row: dict) -> list[str]:
    basis = row["time_basis"]
    lines = ["", f"Bước / Step {row['step']} {row.get('name', '')}: {row.get('verdict')}".replace("  ", " "),
             f"  {row['from_unit'] or '—'} → {row['unit'] or '—'}; started {row['started_at']}, finished {row['finished_at'] or '(open)'}"]
    if "limit" in row:
        lines.append(f"  allowance: {row['limit']['value']} {row['limit']['unit']} = {_minutes(row['allowed_minutes'], basis)}"
                     f" (time_basis {basis})")
    if row.get("pauses_taken_out") is not None:
        for pause in row["pauses_taken_out"]:
            lines.append(f"  pause taken out: {pause['from']} → {pause['to']} = {_minutes(pause['minutes'], basis)}")
        if not row["pauses_taken_out"]:
            lines.append("  pauses taken out: none")
        lines.append(f"  due = start + allowance + paused {_minutes(row['paused_minutes'], basis)} → {row['due_at']}"
                     + ("" if row["agrees"] else f" (evidence says {row['evidence_due_at']})"))
        lines.append(f"  time counted to {row['measured_to']}: {_minutes(row['counted_minutes'], basis)}"
                     f" (evidence: used {_minutes(row['evidence_used_minutes'], basis)})")
    elif "due_without_pauses" in row:
        lines.append(f"  due without pauses {row['due_without_pauses']}; evidence due {row['evidence_due_at']},"
                     f" used {_minutes(row['evidence_used_minutes'], basis)}")
    if row.get("note"):
        lines.append(f"  note: {row['note']}")
    if row.get("rule"):
        lines.append(f"  rule: {row['rule']}")
    return lines
