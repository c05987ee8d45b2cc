"""A declarative REST vendor profile (TOML): auth, endpoint, paging, field paths, code maps."""

from __future__ import annotations

import re
import tomllib
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from isobridge.core import ConfigurationError, DEFAULT_MAX_PAGES

MAPPINGS = Path(str(files("isobridge.mappings")))


class ProfileError(ConfigurationError):
    """A profile is invalid; the message names the file and the bad key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class About(_Strict):
    """What the profile is for and how far it is confirmed."""

    name: str
    note: str = ""
    confirmed: bool = False


class AuthSpec(_Strict):
    """How to authenticate; secrets come from the source options, never from the profile."""

    type: Literal["none", "basic", "bearer", "login"] = "none"
    login_path: str = ""
    login_format: Literal["json", "form"] = "form"
    login_fields: dict[str, str] = Field(default_factory=dict)
    """Body of the login call; `{username}` and `{password}` are filled from the options."""
    token_path: str = "access_token"

    @model_validator(mode="after")
    def _login_needs_path(self) -> "AuthSpec":
        if self.type == "login" and not self.login_path:
            raise ValueError("type = 'login' needs login_path")
        return self


class RecordsSpec(_Strict):
    """Where the dossiers are."""

    path: str
    params: dict[str, str | int] = Field(default_factory=dict)
    items: str = Field("", description="Dotted path of the record list in the body ('' = the body).")


class PagingSpec(_Strict):
    """How the list is paged."""

    style: Literal["page", "offset", "start_end", "next_link", "none"] = "page"
    size: int = Field(50, ge=1, le=5000)
    page_param: str = "page"
    size_param: str = "size"
    first_page: int = 0
    offset_param: str = "offset"
    limit_param: str = "limit"
    start_param: str = "start"
    end_param: str = "end"
    last_path: str = Field("", description="Boolean 'last page' flag (Spring `last`).")
    total_path: str = Field("", description="Total record count (Spring `totalElements`).")
    next_path: str = Field("", description="URL of the next page (next_link style).")
    max_pages: int = Field(DEFAULT_MAX_PAGES, ge=1,
                           description="Pages one listing may take before it is judged endless.")


class IncrementalSpec(_Strict):
    """The modified-since filter."""

    param: str
    field: str = Field(description="Record field (dotted path) whose latest value becomes the checkpoint.")
    format: str = Field("iso", description="'iso', 'epoch_ms' or a strftime pattern for the parameter.")
    overlap_seconds: int = Field(3600, ge=0)


class FieldsSpec(_Strict):
    """Dotted paths of the case-log header fields in a record."""

    key: str = Field(min_length=1)
    dossier: str = Field(min_length=1)
    procedure: str = Field(min_length=1)
    received_at: str = Field(min_length=1)
    status: str = Field(min_length=1)
    agency: str = ""
    due_at: str = ""
    channel: str = ""
    applicant: str = Field("", description="Personal identifier; sent on only as a pseudonym.")


class EventsSpec(_Strict):
    """A list in each record giving the steps the dossier went through."""

    path: str = Field(min_length=1)
    at: str = Field(min_length=1)
    step: str = Field(min_length=1)
    unit: str = ""
    actor: str = Field("", description="The officer handling the step; sent on only as a pseudonym.")
    kind: Literal["handover"] = "handover"
    reception: Literal["first_row", "received_at"] = Field(
        "first_row",
        description="'first_row': the earliest row is the reception; 'received_at': the list holds only the"
                    " current tasks, the reception is the dossier's received_at and every row is a hand-over.")


class MilestoneSpec(_Strict):
    """A dossier-level date that is an event: the result ready (`resolved`), handed back (`returned`)…"""

    at: str = Field(description="Dotted path of the date in the record; no event when it is empty.")
    kind: Literal["resolved", "returned", "refused", "withdrawn", "stopped"]


class ProcedureCodeSpec(_Strict):
    """How a vendor's procedure code resolves to the national code (mã TTHC)."""

    national: str = Field(
        description="Regular expression whose match at the start of the vendor code is the national code;"
                    " the rest (after a separating dot) is the local suffix, kept as `source_procedure`.")

    @field_validator("national")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value

    def resolve(self, code: str) -> str | None:
        """The national code at the start of `code`, None when it has none."""
        match = re.match(self.national, code)
        if not match or not match.group(0):
            return None
        rest = code[match.end():]
        return match.group(0) if not rest or rest.startswith(".") else None


class Profile(_Strict):
    """A whole vendor profile."""

    profile: About
    auth: AuthSpec = Field(default_factory=AuthSpec)
    records: RecordsSpec
    paging: PagingSpec = Field(default_factory=PagingSpec)
    incremental: IncrementalSpec | None = None
    fields: FieldsSpec
    date_formats: list[str] = Field(
        default_factory=lambda: ["iso"],
        description="Tried in order: 'iso', 'epoch_ms', 'epoch_s' or strftime patterns; numbers that none"
                    " reads are epoch milliseconds.")
    future_tolerance_hours: int = Field(
        48, ge=0, le=24 * 31,
        description="A reception, step or change date later than now plus this is quarantined, never a checkpoint.")
    timezone: str = Field("+07:00", pattern=r"^[+-]\d\d:\d\d$")
    status: dict[str, int] = Field(description="Vendor status code → national status code 1–10.")
    channels: dict[str, str] = Field(default_factory=dict)
    events: EventsSpec | None = None
    milestones: list[MilestoneSpec] = Field(
        default_factory=list,
        description="Dossier-level dates read as events (a list holding only the open tasks never shows the end).")
    steps: dict[str, str] = Field(default_factory=dict)
    procedures: dict[str, dict[str, str]] = Field(default_factory=dict)
    procedure_code: ProcedureCodeSpec | None = None
    unconfirmed: dict[str, str] = Field(
        default_factory=dict,
        description="Profile key (or vendor field) → why it is not confirmed: no public client was seen"
                    " reading it. Printed by `isobridge mapping check`.")
    personal: list[str] = Field(
        default_factory=list,
        description="Dotted paths of personal data (a value or a whole object; in event rows"
                    " `<events.path>.*.<path>`): every text read from them becomes a pseudonym before the"
                    " record leaves the adapter. Paths the profile does not read are never kept at all.",
    )

    @model_validator(mode="after")
    def _codes(self) -> "Profile":
        bad = [code for code, value in self.status.items() if not 1 <= value <= 10]
        if bad:
            raise ValueError(f"status codes {bad} map outside the national codes 1–10")
        return self

    def unconfirmed_notes(self) -> list[str]:
        """`key: note` for every unconfirmed key, the profile-wide note first when not confirmed."""
        head = [] if self.profile.confirmed else [f"profile {self.profile.name!r}: not confirmed against a live"
                                                  f" system{': ' + self.profile.note if self.profile.note else ''}"]
        return head + [f"{key}: {note}" for key, note in self.unconfirmed.items()]

    def national_procedure(self, code: str) -> str | None:
        """The national procedure code of a vendor code (verbatim without a rule), None when unresolved."""
        return self.procedure_code.resolve(code) if self.procedure_code else code

    def iso_step(self, procedure: str, step: str) -> str | None:
        """ISO step code of a vendor step (procedure-specific first), None when unmapped."""
        return self.procedures.get(procedure, {}).get(step) or self.steps.get(step)


def load_profile(name_or_path: str | Path) -> Profile:
    """A profile from a path, or a bundled one by name (`igate`)."""
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        path = MAPPINGS / f"{name_or_path}.toml"
    try:
        data: Any = tomllib.loads(path.read_text(encoding="utf-8"))
        return Profile.model_validate(data)
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: invalid TOML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors())
        raise ProfileError(f"{path}: {problems}") from None
