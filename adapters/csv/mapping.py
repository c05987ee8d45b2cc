"""The declarative CSV column mapping (see `mappings/csv-example.toml`) and row → fragment mapping."""

from __future__ import annotations

import re
import tomllib
from datetime import datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from isobridge.core.caselog import EVENT_KINDS, RecordError
from isobridge.core.privacy import PERSONAL_FIELDS

HEADER_FIELDS = ("procedure", "agency", "channel", "received_at", "due_at", "status")
EVENT_FIELDS = ("at", "kind", "step", "from_unit", "unit", "actor", "reason", "new_due_at")
TIME_FIELDS = frozenset({"received_at", "due_at", "at", "new_due_at"})
KNOWN = frozenset({"dossier", *HEADER_FIELDS, *EVENT_FIELDS, *PERSONAL_FIELDS})
_CODES = {"%d": r"(?P<d>\d{1,2})", "%m": r"(?P<m>\d{1,2})", "%Y": r"(?P<Y>\d{4})",
          "%H": r"(?P<H>\d{1,2})", "%M": r"(?P<M>\d{2})", "%S": r"(?P<S>\d{2})"}


class DateEvent(BaseModel):
    """A date column that becomes an event (one-row-per-dossier exports)."""

    model_config = ConfigDict(extra="forbid")
    column: str
    kind: str
    step: str | None = None


class Values(BaseModel):
    """Value maps of coded columns."""

    model_config = ConfigDict(extra="forbid")
    kind: dict[str, str] = Field(default_factory=dict)
    status: dict[str, int] = Field(default_factory=dict)
    channel: dict[str, str] = Field(default_factory=dict)


class CsvMapping(BaseModel):
    """The whole mapping file."""

    model_config = ConfigDict(extra="forbid")
    delimiter: str = ","
    encoding: Literal["auto", "utf-8", "cp1258"] = "auto"
    timezone: str = "+07:00"
    date_formats: list[str] = Field(default_factory=lambda: ["%d/%m/%Y %H:%M:%S", "%d/%m/%Y"])
    officer_names: Literal["pseudonym", "keep", "drop"] = "pseudonym"
    default_kind: str = "handover"
    columns: dict[str, str]
    values: Values = Field(default_factory=Values)
    date_events: list[DateEvent] = Field(default_factory=list)

    @field_validator("columns")
    @classmethod
    def _fields(cls, columns: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(columns) - KNOWN)
        if unknown:
            raise ValueError(f"unknown case-log fields {unknown}; known: {sorted(KNOWN)}")
        if "dossier" not in columns:
            raise ValueError("the dossier column is required")
        return columns

    @classmethod
    def load(cls, path: Path | None = None) -> "CsvMapping":
        """Load a mapping file (None: the bundled `isobridge.mappings/csv-example.toml`)."""
        if path is None:
            text = resources.files("isobridge.mappings").joinpath("csv-example.toml").read_text("utf-8")
        else:
            text = Path(path).read_text("utf-8")
        return cls.model_validate(tomllib.loads(text))


def _compile(fmt: str) -> re.Pattern:
    pattern = re.escape(fmt)
    for code, group in _CODES.items():
        pattern = pattern.replace(re.escape(code), group).replace(code, group)
    return re.compile(pattern + r"\Z")


class TimeReader:
    """Reads local times in the configured formats into ISO 8601 with offset (fast path, no strptime)."""

    def __init__(self, formats: list[str], offset: str):
        self.patterns, self.offset = [_compile(fmt) for fmt in formats], offset

    def __call__(self, text: str) -> str | None:
        """ISO 8601 of `text`, or None when no format fits."""
        for pattern in self.patterns:
            match = pattern.match(text)
            if match:
                g = match.groupdict()
                try:
                    moment = datetime(int(g["Y"]), int(g["m"]), int(g["d"]), int(g.get("H") or 0),
                                      int(g.get("M") or 0), int(g.get("S") or 0))
                except ValueError:
                    return None
                return moment.isoformat() + self.offset
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
        return moment.isoformat() if moment.tzinfo else moment.isoformat() + self.offset


class RowMapper:
    """Maps one row (a dict column → text) to a case-log fragment."""

    def __init__(self, mapping: CsvMapping, pseudonym: Callable[[str | None], str | None]):
        self.m = mapping
        # the same applicants, officers and dates recur row after row: remember recent answers
        self.pseudonym = lru_cache(maxsize=65536)(pseudonym)
        self.time = lru_cache(maxsize=65536)(TimeReader(mapping.date_formats, mapping.timezone))
        self.kinds = {k.casefold(): v for k, v in mapping.values.kind.items()}
        self.statuses = {k.casefold(): v for k, v in mapping.values.status.items()}
        self.channels = {k.casefold(): v for k, v in mapping.values.channel.items()}
        self.header = [(f, c) for f, c in mapping.columns.items() if f in HEADER_FIELDS or f in PERSONAL_FIELDS]
        self.event = [(f, c) for f, c in mapping.columns.items() if f in EVENT_FIELDS]

    def fragment(self, row: dict[str, str]) -> dict:
        """The fragment of one row; raises RecordError naming every problem."""
        errors: list[str] = []
        columns = self.m.columns
        dossier = row.get(columns["dossier"], "")
        if not dossier:
            errors.append(f"{columns['dossier']!r} (dossier): empty")
        fragment: dict = {"dossier": dossier}
        for field, column in self.header:
            value = row.get(column, "")
            if value:
                fragment[field] = self._value(field, column, value, errors)
        events = [self._row_event(row, errors)] if "at" in columns else []
        for spec in self.m.date_events:
            value = row.get(spec.column, "")
            if value:
                at = self._value("at", spec.column, value, errors)
                events.append({"at": at, "kind": spec.kind} | ({"step": spec.step} if spec.step else {}))
        fragment["events"] = events
        if errors:
            raise RecordError(errors)
        return fragment

    def _row_event(self, row: dict[str, str], errors: list[str]) -> dict:
        event: dict = {"kind": self.m.default_kind}
        for field, column in self.event:
            value = row.get(column, "")
            if value:
                mapped = self._value(field, column, value, errors)
                if mapped is not None:
                    event[field] = mapped
        if "at" not in event:
            errors.append(f"{self.m.columns['at']!r} (at): empty")
        return event

    def _value(self, field: str, column: str, value: str, errors: list[str]):
        if field in TIME_FIELDS:
            iso = self.time(value)
            if iso is None:
                errors.append(f"{column!r} ({field}): {value!r} matches none of {self.m.date_formats}")
            return iso
        if field in PERSONAL_FIELDS:
            return self.pseudonym(value)
        if field == "actor":
            policy = self.m.officer_names
            return None if policy == "drop" else value if policy == "keep" else self.pseudonym(value)
        if field == "kind":
            return self._coded(self.kinds, EVENT_KINDS, field, column, value, errors)
        if field == "status":
            return self._status(column, value, errors)
        if field == "channel":
            return self.channels.get(value.casefold(), value)
        return value

    @staticmethod
    def _coded(table: dict, allowed, field: str, column: str, value: str, errors: list[str]):
        if value.casefold() in table:
            return table[value.casefold()]
        if value in allowed:
            return value
        errors.append(f"{column!r} ({field}): {value!r} is not in the mapping's values.{field}")
        return None

    def _status(self, column: str, value: str, errors: list[str]) -> int | None:
        code = self.statuses.get(value.casefold())
        if code is None and value.isdigit():
            code = int(value)
        if code is None or not 1 <= code <= 10:
            errors.append(f"{column!r} (status): {value!r} is not a national status code 1–10 or a mapped value")
        return code
