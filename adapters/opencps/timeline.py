"""Mapping an OpenCPS dossier (detail + sequences + step table) to a case-log fragment.

What the payload means (VietOpenCPS/opencps-v2, release-candidate-3.0):
- a DossierAction row is "action `actionCode` moved the dossier from `fromStepCode` into
  `stepCode` at `createDate`";
- `/sequences` lists under each phase the actions done *from* it (`fromSequenceNo`), so the
  dossier's first action (empty from-step) is never listed: the step it led into is the first
  listed action's `fromStepCode` (or the detail's `stepCode` while nothing else happened);
- a rollback (action code 9000) adds no action: the undone action gets `state` 2 (its
  `modifiedDate` is the rollback time) and the previous one is reinstated.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from isobridge.core import RecordError

from .mapping import OpenCPSMapping, StatusRule

VN = timezone(timedelta(hours=7))
ENTERING = frozenset({"received", "handover", "sent_back"})
LEAVING = {"supplement_requested": "supplement_received", "paused": "resumed"}
FIRST_ACTION_DELAY_MS = 1000
"""The first action's time is not listed: its hand-over is put one second after receiveDate, so that
no merge can order it before the reception (events of one instant have no defined order)."""
STATE_ROLLED_BACK = 2
"""DossierActionTerm.STATE_ROLLBACK: the action was undone by a rollback."""


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


def _ms(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def actions_of(sequences: Any, errors: list[str] | None = None) -> tuple[list[dict], dict[str, str]]:
    """Every listed DossierAction in time order, and sequenceNo → sequenceRole (the unit).

    A phase or an action that is not a JSON object is named in `errors` (the record is quarantined).
    """
    errors = [] if errors is None else errors
    if sequences is None:
        return [], {}
    phases = sequences.get("data") if isinstance(sequences, dict) else None
    if not isinstance(phases, list):
        errors.append(f"sequences: expected {{data: [phases]}}, got {type(sequences).__name__}")
        return [], {}
    actions: list[dict] = []
    roles: dict[str, str] = {}
    for number, phase in enumerate(phases):
        if not isinstance(phase, dict):
            errors.append(f"sequences phase {number}: expected an object, got {type(phase).__name__}")
            continue
        roles[str(phase.get("sequenceNo"))] = str(phase.get("sequenceRole") or "")
        listed = phase.get("actions") or []
        if not isinstance(listed, list):
            errors.append(f"sequences phase {number}.actions: expected a list, got {type(listed).__name__}")
            continue
        for index, action in enumerate(listed):
            if isinstance(action, dict):
                actions.append({**action, "_phase": str(phase.get("sequenceNo"))})
            else:
                errors.append(f"sequences phase {number} action {index}: expected an object")
    actions.sort(key=lambda a: (_ms(a.get("createDate")), _ms(a.get("previousActionId"))))
    return actions, roles


def first_step(data: dict, actions: list[dict]) -> str:
    """The vendor step the dossier's first (unlisted) action led into; "" when unknown."""
    if actions:
        return str(actions[0].get("fromStepCode") or "")
    return str((data.get("dossier") or {}).get("stepCode") or "")


def map_dossier(data: dict, mapping: OpenCPSMapping, key: str) -> list[dict]:
    """The fragment of one dossier; raises RecordError naming every problem."""
    if not isinstance(data, dict) or not isinstance(data.get("dossier"), dict):
        raise RecordError([f"dossier {key}: expected {{dossier, sequences, steps}}"])
    if data.get("_error"):
        raise RecordError([f"dossier {key}: {data['_error']}"])
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
    events = _Timeline(data, mapping, procedure, errors).events(received)
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


class _Timeline:
    """Builds the case-log events of one dossier from its action chain."""

    def __init__(self, data: dict, mapping: OpenCPSMapping, procedure: str, errors: list[str]):
        self.data, self.mapping, self.procedure, self.errors = data, mapping, procedure, errors
        self.actions, self.roles = actions_of(data.get("sequences"), errors)
        steps = data.get("steps")
        self.steps = steps if isinstance(steps, dict) else {}
        self.timed: list[tuple[int, int, dict]] = []
        self.previous: str | None = None
        self.entering: set[int] = set()
        """ids of the actions that put the dossier into a step (a rollback sends it back from there)."""

    def add(self, ms: int, event: dict) -> None:
        """Queue an event at epoch milliseconds `ms` (kept in insertion order on ties)."""
        self.timed.append((ms, len(self.timed), {k: v for k, v in event.items() if v is not None}))

    def events(self, received: str | None) -> list[dict]:
        """The events in time order: the reception, every action, every rollback."""
        if received is None:
            return []
        received_ms = int(datetime.fromisoformat(received).timestamp() * 1000)
        self._reception(received, received_ms)
        live = [a for a in self.actions if _ms(a.get("state")) != STATE_ROLLED_BACK]
        current = live[-1] if live else None
        moves = [(_ms(a.get("createDate")), 0, index, a) for index, a in enumerate(self.actions)]
        for index, action in enumerate(self.actions):
            if _ms(action.get("state")) == STATE_ROLLED_BACK:
                moves.append((self._rollback_ms(action, index), 1, index, action))
        for ms, rollback, index, action in sorted(moves, key=lambda m: (m[0], m[1], m[2])):
            if rollback:
                self._rollback(ms, action)
            else:
                self._action(ms, index, action, action is current)
        # the ledger's merge orders events of one instant by kind, step, unit: so do we, so that
        # merging a fragment again never reorders it (a new revision with the same evidence)
        self.timed.sort(key=lambda item: (item[0], *(str(item[2].get(k)) for k in ("kind", "step", "unit"))))
        return [event for _, _, event in self.timed]

    # -- the first (unlisted) action -----------------------------------------------------------
    def _reception(self, received: str, received_ms: int) -> None:
        """The dossier is received at `receiveDate` into the reception step.

        When the first action led into another ISO step (the reception was itself that action),
        a hand-over into it follows at the same instant.
        """
        vendor = first_step(self.data, self.actions)
        target = self.mapping.iso_step(self.procedure, vendor) if vendor else None
        reception = self.mapping.reception_step(self.procedure) or target
        unit = self.roles.get(self.actions[0]["_phase"]) if self.actions else None
        self.add(received_ms, {"at": received, "kind": "received", "step": reception,
                               "unit": (unit or None) if reception == target else None})
        if target is not None and target != reception:
            later = received_ms + FIRST_ACTION_DELAY_MS
            self.add(later, {"at": epoch_ms(later, "receiveDate", self.errors), "kind": "handover", "step": target,
                             "unit": unit or None})
        self.previous = self._step_kind(vendor)[0] if vendor else None

    # -- listed actions ------------------------------------------------------------------------
    def _action(self, ms: int, index: int, action: dict, current: bool) -> None:
        at = epoch_ms(action.get("createDate"), f"sequences action {index}.createDate", self.errors)
        if at is None:
            return
        vendor = str(action.get("stepCode") or "")
        undone = _ms(action.get("state")) == STATE_ROLLED_BACK
        kind, reason = self._kind(action, vendor, current)
        if kind == "received":
            kind = "handover"  # the reception is the event at receiveDate; later ones hand over
        if undone and kind not in ENTERING:
            kind, reason = None, None  # the rollback undid its status (release, pause, refusal…)
        iso = self.mapping.iso_step(self.procedure, vendor)
        if self.previous in LEAVING and kind != self.previous:
            self.add(ms, {"at": at, "kind": LEAVING[self.previous]})
        base = {"at": at, "from_unit": self.roles.get(action["_phase"]) or None,
                "unit": self.roles.get(str(action.get("sequenceNo"))) or None,
                "actor": action.get("actionUser") or None}
        if kind in ENTERING or iso is not None:
            self.entering.add(id(action))
        if kind in ENTERING:
            self.add(ms, {**base, "kind": kind, "step": iso or vendor})
        else:
            if iso is not None:
                self.add(ms, {**base, "kind": "handover", "step": iso})
            if kind:
                self.add(ms, {"at": at, "kind": kind, "reason": reason})
        self.previous = kind

    def _kind(self, action: dict, vendor: str, current: bool) -> tuple[str | None, str | None]:
        """The event kind of entering the action's step, and a pause reason."""
        override = self.mapping.actions.get(str(action.get("actionCode") or ""))
        if override is not None:
            return override.kind, override.reason
        if isinstance(self.steps.get(vendor), list) and self.steps[vendor]:
            return self._step_kind(vendor)
        if not current:
            return "handover", None
        detail = self.data["dossier"]
        rule = self.mapping.rule(detail.get("dossierStatus") or "", detail.get("dossierSubStatus") or "")
        return (rule.kind, rule.reason) if rule else ("handover", None)

    def _step_kind(self, vendor: str) -> tuple[str | None, str | None]:
        """The kind and reason of a vendor step's status, (None, None) when the table lacks it."""
        known = self.steps.get(vendor)
        if not isinstance(known, list) or not known:
            return None, None
        rule: StatusRule | None = self.mapping.rule(str(known[0]), str(known[1]) if len(known) > 1 else "")
        return (rule.kind, rule.reason) if rule else ("handover", None)

    # -- rollbacks -----------------------------------------------------------------------------
    def _rollback_ms(self, action: dict, index: int) -> int:
        """When the action was undone: its `modifiedDate` (set by the rollback)."""
        created, modified = _ms(action.get("createDate")), _ms(action.get("modifiedDate"))
        redo = [_ms(a.get("createDate")) for a in self.actions
                if a is not action and a.get("previousActionId") == action.get("previousActionId")
                and _ms(a.get("createDate")) >= created]
        if modified < created or (redo and modified > min(redo)):
            self.errors.append(f"sequences action {index} (state 2, rolled back): modifiedDate {modified} is "
                               "not between its createDate and the next action: the rollback time is unknown")
        return max(modified, created)

    def _rollback(self, ms: int, action: dict) -> None:
        """The dossier goes back to the step the undone action came from."""
        if id(action) not in self.entering:
            return  # the undone action entered no step: nothing to send back from
        back = str(action.get("fromStepCode") or "")
        step = self.mapping.iso_step(self.procedure, back) if back else self.mapping.reception_step(self.procedure)
        at = epoch_ms(ms, "rollback time", self.errors)
        if at is None:
            return
        if self.previous in LEAVING:
            self.add(ms, {"at": at, "kind": LEAVING[self.previous]})
        rule = self.mapping.rollback_rule()
        self.add(ms, {"at": at, "kind": rule.kind, "step": step or back or None,
                      "from_unit": self.roles.get(str(action.get("sequenceNo"))) or None,
                      "unit": self.roles.get(action["_phase"]) or None})
        self.previous = None


def unmapped(data: dict, mapping: OpenCPSMapping) -> set[tuple[str, str]]:
    """(category, code) of every status, step and action code of a record that reaches no ISO step.

    A step counts as covered when the mapping gives it an ISO step or lists it in `no_iso_step`;
    an action code is listed when the step it leads into is not covered.
    """
    found: set[tuple[str, str]] = set()
    if not isinstance(data, dict) or data.get("_error") or not isinstance(data.get("dossier"), dict):
        return found  # a dossier the server would not describe is quarantined, not a mapping gap
    detail = data["dossier"]
    status, sub = detail.get("dossierStatus") or "", detail.get("dossierSubStatus") or ""
    if mapping.rule(status, sub) is None:
        found.add(("status", f"{status}/{sub}" if sub else status))
    procedure = detail.get("serviceCode") or ""
    steps = data.get("steps") if isinstance(data.get("steps"), dict) else {}
    actions = actions_of(data.get("sequences"))[0]

    def covered(code: str) -> bool:
        return mapping.iso_step(procedure, code) is not None or mapping.no_iso_step_of(procedure, code)

    codes = {first_step(data, actions), str(detail.get("stepCode") or "")}
    for action in actions:
        code = str(action.get("stepCode") or "")
        codes.update((code, str(action.get("fromStepCode") or "")))
        if code and not covered(code):
            found.add(("action", f"{procedure}:{action.get('actionCode') or ''}"))
    for code in codes - {""}:
        if not covered(code):
            found.add(("step", f"{procedure}:{code}"))
        known = steps.get(code)
        if isinstance(known, list) and known:
            step_status, step_sub = str(known[0]), str(known[1]) if len(known) > 1 else ""
            if mapping.rule(step_status, step_sub) is None:
                found.add(("status", f"{step_status}/{step_sub}" if step_sub else step_status))
    return found
