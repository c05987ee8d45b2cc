"""isobridge core: QMS contracts, the Vietnamese working calendar and the conformity engine."""

from .calendar import CalendarError, WorkingCalendar
from .caselog import RecordError
from .engine import Evaluator
from .models import (
    CalendarRef,
    Dossier,
    DossierVerdict,
    Event,
    EventKind,
    Evidence,
    IndicatorSummary,
    Limit,
    LimitUnit,
    Nonconformity,
    NonconformityKind,
    Procedure,
    Step,
    StepEvidence,
    StepVerdict,
)
from .procedures import ProcedureBook, ProcedureError

__all__ = [
    "CalendarError", "CalendarRef", "Dossier", "DossierVerdict", "Evaluator", "Event", "EventKind",
    "Evidence", "IndicatorSummary", "Limit", "LimitUnit", "Nonconformity", "NonconformityKind",
    "Procedure", "ProcedureBook", "ProcedureError", "RecordError", "Step", "StepEvidence",
    "StepVerdict", "WorkingCalendar",
]
