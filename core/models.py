"""The QMS data contracts: procedures, dossiers and their events, evidence, indicators.

Internal module: plugins import its public names from `isobridge.core` (the face).

These pydantic models are the documented shape of every canonical file isobridge reads or
writes (`isobridge schema NAME` prints their JSON Schema). The engine's hot path works on
plain dicts of the same shape; the models are the contract both sides are tested against.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class LimitUnit(StrEnum):
    """How a time limit is counted."""

    working_days = "working_days"
    working_hours = "working_hours"
    calendar_days = "calendar_days"


class Limit(BaseModel):
    """A time limit such as 5 working days or 4 working hours."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: Annotated[float, Field(ge=0, description="Amount of time allowed.")]
    unit: LimitUnit = LimitUnit.working_days


class Step(BaseModel):
    """One step of an ISO procedure (a row of the quy trình step table)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="Step code used in the case log, e.g. 'TN' or 'THAM_DINH'.")
    name: str = Field(description="Step name (Tên bước), in Vietnamese.")
    unit: str = Field(default="", description="Responsible unit (Đơn vị/người thực hiện).")
    limit: Limit = Field(description="Time limit of the step.")
    record: str | None = Field(default=None, description="Record or form produced, e.g. 'Mẫu 01'.")
    optional: bool = Field(default=False, description="True when the step may be skipped.")


class Procedure(BaseModel):
    """An agency's ISO procedure for one administrative procedure (thủ tục hành chính)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="National procedure code (mã TTHC), e.g. '1.001612'.")
    name: str = Field(description="Procedure name.")
    version: str = Field(default="1", description="ISO document issue (lần ban hành).")
    effective_from: date | None = Field(default=None, description="Date the version took effect.")
    agency: str = Field(default="", description="Agency that owns this procedure.")
    limit: Limit = Field(description="Overall statutory time limit.")
    pauses: list[str] = Field(
        default_factory=list,
        description="Reasons of `paused` events that stop the clock (supplement always does).",
    )
    steps: list[Step] = Field(min_length=1, description="Ordered steps.")


class EventKind(StrEnum):
    """What happened to a dossier at one instant of its case log."""

    received = "received"
    handover = "handover"
    sent_back = "sent_back"
    supplement_requested = "supplement_requested"
    supplement_received = "supplement_received"
    paused = "paused"
    resumed = "resumed"
    apology_issued = "apology_issued"
    refused = "refused"
    withdrawn = "withdrawn"
    stopped = "stopped"
    resolved = "resolved"
    returned = "returned"


class Event(BaseModel):
    """One entry of a dossier's case log."""

    model_config = ConfigDict(extra="allow")

    at: AwareDatetime = Field(description="When it happened (ISO 8601 with offset).")
    kind: EventKind
    step: str | None = Field(default=None, description="Step entered (received/handover/sent_back).")
    from_unit: str | None = Field(default=None, description="Unit handing the dossier over (giao).")
    unit: str | None = Field(default=None, description="Unit taking the dossier (nhận).")
    actor: str | None = Field(default=None, description="Officer who recorded the event.")
    reason: str | None = Field(default=None, description="Reason of a pause, refusal or apology.")
    new_due_at: AwareDatetime | None = Field(default=None, description="New date of an apology.")


class Dossier(BaseModel):
    """A dossier (hồ sơ) with its case log: one line of a case-log JSON Lines file."""

    model_config = ConfigDict(extra="allow")

    dossier: str = Field(min_length=1, description="Dossier code (mã hồ sơ).")
    procedure: str = Field(min_length=1, description="National procedure code (mã TTHC).")
    agency: str = Field(default="", description="Receiving agency.")
    channel: str = Field(default="direct", description="direct, online or post.")
    received_at: AwareDatetime
    due_at: AwareDatetime | None = Field(default=None, description="Appointment given at reception.")
    status: Annotated[int, Field(ge=1, le=10, description="National status code (1–10).")]
    events: list[Event] = Field(default_factory=list)


class StepVerdict(StrEnum):
    """Verdict of one step against its time limit."""

    early = "early"
    on_time = "on_time"
    late = "late"
    open = "open"
    open_overdue = "open_overdue"


class DossierVerdict(StrEnum):
    """Verdict of a whole dossier per Decision 766/QĐ-TTg (day granularity)."""

    early = "early"
    on_time = "on_time"
    late = "late"
    open_on_time = "open_on_time"
    open_overdue = "open_overdue"
    paused = "paused"
    refused = "refused"
    withdrawn = "withdrawn"
    stopped = "stopped"


class NonconformityKind(StrEnum):
    """Kinds of nonconformity (ISO 9001 clauses 8.7 and 10.2) the engine detects."""

    late_step = "late_step"
    late_dossier = "late_dossier"
    late_without_timely_apology = "late_without_timely_apology"
    reschedule_limit_exceeded = "reschedule_limit_exceeded"
    missing_step = "missing_step"
    out_of_order = "out_of_order"
    due_date_mismatch = "due_date_mismatch"
    unknown_step = "unknown_step"


class StepEvidence(BaseModel):
    """One row of the process control sheet: a step, who handed it to whom, on time or not."""

    step: str
    from_unit: str | None = None
    unit: str | None = None
    started_at: AwareDatetime
    finished_at: AwareDatetime | None = None
    due_at: AwareDatetime | None = Field(default=None, description="None for an unknown step.")
    allowed_minutes: int | None = Field(default=None, description="Minutes allowed, counted as `time_basis` says.")
    used_minutes: int = Field(description="Minutes used (paused time excluded), counted as `time_basis` says.")
    time_basis: Literal["working", "calendar"] = Field(
        default="working", description="What both minute counts count: working minutes (a working_days or"
        " working_hours limit, or an unknown step) or calendar minutes (a calendar_days limit: 1440 a day).")
    verdict: StepVerdict | None = Field(default=None, description="None for an unknown step.")


class Nonconformity(BaseModel):
    """A detected nonconformity, ready to become a corrective action."""

    kind: NonconformityKind
    step: str | None = None
    detail: str


class CalendarRef(BaseModel):
    """Which working calendar produced a verdict."""

    name: str
    version: str = Field(description="Hash of the calendar's resolved working days and sessions.")


class Evidence(BaseModel):
    """Conformity evidence of one dossier: one line of an evidence JSON Lines file."""

    dossier: str
    procedure: str
    agency: str = ""
    channel: str = "direct"
    received_at: AwareDatetime
    status: int
    verdict: DossierVerdict
    due_at: AwareDatetime | None = Field(description="Effective due: appointment moved by pauses.")
    computed_due_at: AwareDatetime | None = Field(description="Due computed from the procedure.")
    finished_at: AwareDatetime | None = None
    paused_minutes: int = 0
    steps: list[StepEvidence]
    nonconformities: list[Nonconformity]
    calendar: CalendarRef
    schema_version: int = Field(default=1, description="2: step rows carry `time_basis`; 1 (absent): used"
                                " minutes are working minutes, a calendar-day allowance 1440 a day.")


class IndicatorSummary(BaseModel):
    """Decision 766 progress counts and on-time rate over a set of dossiers.

    A dossier is either received in the period or carried over from before it; its outcome is
    one of the dossier verdicts (finished early/on time/late, open on time/overdue, paused,
    refused, withdrawn, stopped).
    """

    dossiers: int = 0
    received: int = 0
    carried_over: int = 0
    early: int = 0
    on_time: int = 0
    late: int = 0
    open_on_time: int = 0
    open_overdue: int = 0
    paused: int = 0
    refused: int = 0
    withdrawn: int = 0
    stopped: int = 0
    online: int = 0
    nonconformities: int = 0
    with_nonconformity: int = 0

    @property
    def finished(self) -> int:
        """Dossiers resolved (early, on time or late)."""
        return self.early + self.on_time + self.late

    @property
    def on_time_rate(self) -> float | None:
        """Share of finished dossiers resolved early or on time, None when nothing finished."""
        return (self.early + self.on_time) / self.finished if self.finished else None

    def count(self, outcome: str, received_in_period: bool, channel: str, nonconformities: int) -> None:
        """Count one dossier with its outcome (a dossier verdict)."""
        self.dossiers += 1
        if received_in_period:
            self.received += 1
            self.online += channel == "online"
        else:
            self.carried_over += 1
        setattr(self, outcome, getattr(self, outcome) + 1)
        self.nonconformities += nonconformities
        self.with_nonconformity += nonconformities > 0

    def add(self, evidence: dict) -> None:
        """Count one evidence record (a dict in the evidence file shape) as received."""
        self.count(evidence["verdict"], True, evidence.get("channel", ""), len(evidence["nonconformities"]))

    def merge(self, other: "IndicatorSummary") -> None:
        """Add another summary's counts to this one."""
        for name in type(self).model_fields:
            setattr(self, name, getattr(self, name) + getattr(other, name))


SCHEMAS: dict[str, type[BaseModel]] = {
    "procedure": Procedure,
    "dossier": Dossier,
    "evidence": Evidence,
    "indicators": IndicatorSummary,
}
"""Models whose JSON Schema `isobridge schema NAME` prints."""
