"""Mapping an OpenCPS dossier (detail + sequences + step table) to a case-log fragment."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from isobridge.core.caselog import RecordError

from .mapping import OpenCPSMapping, StatusRule

VN = timezone(timedelta(hours=7))
ENTERING = frozenset({"received", "handover", "sent_back"})
LEAVING = {"supplement_requested": "supplement_received", "paused": "resumed"}


def vn_text(value: Any, where: str, errors: list[str]) -> str | None:
    """ISO 8601 (+07:00) of a `dd/MM/yyyy HH:mm:ss` Vietnam-time string; "" is None."""
    if value in (None, ""):
        return None
    try:
        return datetime.strptime(str(value), "%d/%m/%Y %H:%M:%S").replace(tzinfo=VN).isoformat()
    except ValueError:
        errors.append(f"{where}: {value!r} is not dd/MM/yyyy HH:mm:ss")
        return None


def epoch_ms(value: Any, where: str, errors: list[str]) -> str | None:
    """ISO 8601 (+07:00) of epoch milliseconds; 0 or empty is None."""
    if value in (None, "", 0):
        return None
    try:
        return datetime.fromtimestamp(int(value) / 1000, VN).isoformat()
    except (TypeError, ValueError, OverflowError, OSError):
        errors.append(f"{where}: {value!r} is not epoch milliseconds")
        return None


def actions_of(sequences: Any) -> tuple[list[dict], dict[str, str]]:
    """Every DossierAction in time order, and sequenceNo → sequenceRole (the responsible unit)."""
    if not isinstance(sequences, dict):
        return [], {}
    actions: list[dict] = []
    roles: dict[str, str] = {}
    for phase in sequences.get("data") or []:
        if not isinstance(phase, dict):
            continue
        roles[str(phase.get("sequenceNo"))] = phase.get("sequenceRole") or ""
        for action in phase.get("actions") or []:
            if isinstance(action, dict):
                actions.append({**action, "_phase": str(phase.get("sequenceNo"))})
    actions.sort(key=lambda a: (int(a.get("createDate") or 0), int(a.get("previousActionId") or 0)))
    return actions, roles


def map_dossier(data: dict, mapping: OpenCPSMapping, key: str) -> list[dict]:
    """The fragment of one dossier; raises RecordError naming every problem."""
    if not isinstance(data, dict) or not isinstance(data.get("dossier"), dict):
        raise RecordError([f"dossier {key}: expected {{dossier, sequences, steps}}"])
    detail, errors = data["dossier"], []
    status, sub = detail.get("dossierStatus") or "", detail.get("dossierSubStatus") or ""
    rule = mapping.rule(status, sub)
    if rule is None:
        errors.append(f"dossierStatus {status!r}/{sub!r} has no mapping in opencps.toml")
    elif rule.pending:
        return []
    dossier = detail.get("dossierNo") or ""
    if not dossier:
        errors.append(f"dossier {key}: dossierNo is empty")
    procedure = detail.get("serviceCode") or ""
    if not procedure:
        errors.append(f"dossier {key}: serviceCode is empty")
    received = vn_text(detail.get("receiveDate"), "receiveDate", errors)
    if received is None and not any("receiveDate" in e for e in errors):
        errors.append(f"dossier {key}: receiveDate is empty")
    due = vn_text(detail.get("dueDate"), "dueDate", errors)
    events = _events(data, mapping, procedure, errors)
    if errors:
        raise RecordError(errors)
    fragment = {
        "dossier": dossier, "procedure": procedure, "agency": detail.get("govAgencyCode") or "",
        "channel": "online" if str(detail.get("online")).lower() == "true" else "direct",
        "received_at": received, "status": rule.code, "source_status": f"{status}/{sub}".rstrip("/"),
        "events": events,
    }
    if due:
        fragment["due_at"] = due
    if detail.get("applicantIdNo"):
        fragment["applicant"] = detail["applicantIdNo"]  # already a pseudonym
    return [fragment]


def _events(data: dict, mapping: OpenCPSMapping, procedure: str, errors: list[str]) -> list[dict]:
    actions, roles = actions_of(data.get("sequences"))
    steps = data.get("steps") or {}
    events: list[dict] = []
    previous: str | None = None
    entered = False
    received = vn_text(data["dossier"].get("receiveDate"), "receiveDate", [])
    if actions and received:
        first = actions[0]
        start_step = mapping.iso_step(procedure, str(first.get("fromStepCode") or ""))
        if start_step is not None:  # the dossier sat in its reception step from receiveDate
            unit = roles.get(first["_phase"]) or None
            events.append({"at": received, "kind": "received", "step": start_step, "unit": unit})
            entered = True
    for index, action in enumerate(actions):
        at = epoch_ms(action.get("createDate"), f"sequences action {index}.createDate", errors)
        if at is None:
            continue
        vendor_step = str(action.get("stepCode") or "")
        kind, reason = _kind(action, steps.get(vendor_step), mapping, index == len(actions) - 1, data)
        iso_step = mapping.iso_step(procedure, vendor_step)
        if previous in LEAVING and kind != previous:
            events.append({"at": at, "kind": LEAVING[previous]})
        base = {"at": at, "from_unit": roles.get(action["_phase"]) or None,
                "unit": roles.get(str(action.get("sequenceNo"))) or None, "actor": action.get("actionUser") or None}
        if iso_step is not None and kind not in ENTERING:
            events.append({**base, "kind": "handover" if entered else "received", "step": iso_step})
            entered = True
        if kind in ENTERING:
            if kind == "handover" and not entered:
                kind = "received"
            events.append({**base, "kind": kind, "step": iso_step or vendor_step})
            entered = True
        elif kind:
            events.append({"at": at, "kind": kind, **({"reason": reason} if reason else {})})
        previous = kind
    return [{k: v for k, v in event.items() if v is not None} for event in events]


def _kind(action: dict, step: Any, mapping: OpenCPSMapping, last: bool, data: dict) -> tuple[str | None, str | None]:
    """The event kind of entering the action's step, and a pause reason."""
    override = mapping.actions.get(str(action.get("actionCode") or ""))
    if override is not None:
        return override.kind, override.reason
    rule: StatusRule | None = None
    if isinstance(step, list) and step:
        rule = mapping.rule(step[0], step[1] if len(step) > 1 else "")
    elif last:
        detail = data["dossier"]
        rule = mapping.rule(detail.get("dossierStatus") or "", detail.get("dossierSubStatus") or "")
    if rule is None:
        return "handover", None
    return rule.kind, rule.reason


def unmapped(data: dict, mapping: OpenCPSMapping) -> set[tuple[str, str]]:
    """(category, code) pairs the mapping does not cover: statuses, sub-statuses, steps."""
    found: set[tuple[str, str]] = set()
    detail = data.get("dossier") or {}
    status, sub = detail.get("dossierStatus") or "", detail.get("dossierSubStatus") or ""
    if status not in mapping.status and sub not in mapping.substatus:
        found.add(("status", f"{status}/{sub}" if sub else status))
    procedure = detail.get("serviceCode") or ""
    steps = data.get("steps") or {}
    for action in actions_of(data.get("sequences"))[0]:
        code = str(action.get("stepCode") or "")
        known = steps.get(code)
        rule = mapping.rule(known[0], known[1] if len(known) > 1 else "") if known else None
        if rule is not None and rule.kind not in ENTERING and rule.kind is not None:
            continue
        if code and mapping.iso_step(procedure, code) is None:
            found.add(("step", f"{procedure}:{code}"))
    return found
