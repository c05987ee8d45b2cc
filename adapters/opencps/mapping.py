"""The OpenCPS mapping file (mappings/opencps.toml): statuses, actions and step codes."""

from __future__ import annotations

import tomllib
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from isobridge.core import ConfigurationError

Kind = Literal["received", "handover", "sent_back", "supplement_requested", "paused",
               "resolved", "returned", "refused", "withdrawn", "stopped", "apology_issued"]
ROLLBACK_ACTION = "9000"
"""OpenCPS's rollback action code (DossierActionTerm.OUTSIDE_ACTION_ROLLBACK); never stored as an action."""
DEFAULT_MAPPING = Path(str(files("isobridge.mappings") / "opencps.toml"))


class MappingError(ConfigurationError):
    """A mapping file is invalid; the message names the file and the bad key."""


class StatusRule(BaseModel):
    """What an OpenCPS status or sub-status means."""

    model_config = ConfigDict(extra="forbid")

    code: Annotated[int, Field(ge=1, le=10)]
    kind: Kind | None = None
    reason: str | None = None
    pending: bool = False

    @model_validator(mode="after")
    def _kind_needed(self) -> "StatusRule":
        if self.kind is None and not self.pending:
            raise ValueError("set `kind`, or `pending = true` for a dossier not received yet")
        if self.kind == "paused" and not self.reason:
            raise ValueError("a `paused` kind needs a `reason`")
        return self


class ActionRule(BaseModel):
    """An action code whose meaning overrides the status rule."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind
    reason: str | None = None


class ProcedureSteps(BaseModel):
    """Step codes of one procedure."""

    model_config = ConfigDict(extra="forbid")

    steps: dict[str, str] = Field(default_factory=dict)
    reception: str | None = None
    no_iso_step: list[str] = Field(default_factory=list)


class OpenCPSMapping(BaseModel):
    """The whole mapping file."""

    model_config = ConfigDict(extra="forbid")

    status: dict[str, StatusRule]
    substatus: dict[str, StatusRule] = Field(default_factory=dict)
    actions: dict[str, ActionRule] = Field(default_factory=dict)
    steps: dict[str, str] = Field(default_factory=dict)
    reception: str | None = None
    no_iso_step: list[str] = Field(default_factory=list)
    procedures: dict[str, ProcedureSteps] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _rollback_is_a_send_back(self) -> "OpenCPSMapping":
        rule = self.actions.get(ROLLBACK_ACTION)
        if rule is not None and rule.kind != "sent_back":
            raise ValueError(f'actions."{ROLLBACK_ACTION}" (rollback) can only be kind = "sent_back"')
        return self

    def rule(self, status: str, substatus: str = "") -> StatusRule | None:
        """The rule of a sub-status, else of its status, else None."""
        return self.substatus.get(substatus) or self.status.get(status)

    def iso_step(self, procedure: str, step: str) -> str | None:
        """The ISO step code of a vendor step, None when unmapped."""
        own = self.procedures.get(procedure)
        if own and step in own.steps:
            return own.steps[step]
        return self.steps.get(step)

    def reception_step(self, procedure: str) -> str | None:
        """The ISO step a dossier is received into at `receiveDate`, None when not set."""
        own = self.procedures.get(procedure)
        return (own.reception if own and own.reception else None) or self.reception

    def no_iso_step_of(self, procedure: str, step: str) -> bool:
        """True when the mapping says a vendor step is deliberately no ISO step of its own."""
        own = self.procedures.get(procedure)
        return step in self.no_iso_step or bool(own and step in own.no_iso_step)

    def rollback_rule(self) -> "ActionRule":
        """The rule of a rollback (`[actions."9000"]`, a send-back when absent)."""
        return self.actions.get(ROLLBACK_ACTION) or ActionRule(kind="sent_back")


def load_mapping(path: str | Path | None = None) -> OpenCPSMapping:
    """Read and validate a mapping file (the bundled one by default)."""
    path = Path(path) if path else DEFAULT_MAPPING
    try:
        return OpenCPSMapping.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise MappingError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"{path}: invalid TOML: {exc}") from None
    except ValidationError as exc:
        raise MappingError(f"{path}: {format_errors(exc)}") from None


def format_errors(exc: ValidationError) -> str:
    """`key.path: message` for every validation error."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in exc.errors()
    )
