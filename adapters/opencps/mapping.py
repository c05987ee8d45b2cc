"""The OpenCPS mapping file (mappings/opencps.toml): statuses, actions and step codes."""

from __future__ import annotations

import tomllib
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from isobridge.core.errors import ConfigurationError

Kind = Literal["received", "handover", "sent_back", "supplement_requested", "paused",
               "resolved", "returned", "refused", "withdrawn", "stopped", "apology_issued"]
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


class OpenCPSMapping(BaseModel):
    """The whole mapping file."""

    model_config = ConfigDict(extra="forbid")

    status: dict[str, StatusRule]
    substatus: dict[str, StatusRule] = Field(default_factory=dict)
    actions: dict[str, ActionRule] = Field(default_factory=dict)
    steps: dict[str, str] = Field(default_factory=dict)
    procedures: dict[str, ProcedureSteps] = Field(default_factory=dict)

    def rule(self, status: str, substatus: str = "") -> StatusRule | None:
        """The rule of a sub-status, else of its status, else None."""
        return self.substatus.get(substatus) or self.status.get(status)

    def iso_step(self, procedure: str, step: str) -> str | None:
        """The ISO step code of a vendor step, None when unmapped."""
        own = self.procedures.get(procedure)
        if own and step in own.steps:
            return own.steps[step]
        return self.steps.get(step)


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
