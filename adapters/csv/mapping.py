"""The declarative CSV column mapping (see `mappings/csv-example.toml`) and row → fragment mapping."""

from __future__ import annotations

import re
import tomllib
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from isobridge.core import EVENT_KINDS, HEADER_FIELDS, PERSONAL_FIELDS, RecordError

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


_WIDTHS = {"%d": 2, "%m": 2, "%Y": 4, "%H": 2, "%M": 2, "%S": 2}


def _layout(fmt: str) -> tuple[int, dict[str, int], tuple[tuple[int, str], ...]] | None:
    """Fixed-width layout of a format (length, code → position, literal characters), if it has one."""
    codes: dict[str, int] = {}
    literals: list[tuple[int, str]] = []
    at = index = 0
    while index < len(fmt):
        code = fmt[index:index + 2]
        if code in _WIDTHS:
            codes[code[1]] = at
            at, index = at + _WIDTHS[code], index + 2
        elif fmt[index] == "%":
            return None
        else:
            literals.append((at, fmt[index]))
            at, index = at + 1, index + 1
    return (at, codes, tuple(literals)) if {"Y", "m", "d"} <= codes.keys() else None


class _Format:
    """One date format: a slicing fast path for zero-padded text, the regex for the rest."""

    def __init__(self, fmt: str):
        self.pattern, self.layout = _compile(fmt), _layout(fmt)

    def iso(self, text: str) -> str | None:
        """Local ISO text (no offset) of a zero-padded `text` in this layout, else None."""
        if self.layout is None:
            return None
        length, at, literals = self.layout
        if len(text) != length or any(text[i] != c for i, c in literals):
            return None
        parts = [text[at["Y"]:at["Y"] + 4], "-", text[at["m"]:at["m"] + 2], "-", text[at["d"]:at["d"] + 2], "T"]
        for code in "HMS":
            parts += [text[at[code]:at[code] + 2] if code in at else "00", ":"]
        return "".join(parts[:-1])


class TimeReader:
    """Reads local times in the configured formats into ISO 8601 with offset.

    Zero-padded text takes a slicing fast path checked by `datetime.fromisoformat` (C); other
    text (`1/7/2025`) the format's regex; ISO 8601 is always accepted.
    """

    def __init__(self, formats: list[str], offset: str):
        self.formats, self.offset = [_Format(fmt) for fmt in formats], offset

    def __call__(self, text: str) -> str | None:
        """ISO 8601 of `text`, or None when no format fits."""
        for fmt in self.formats:
            iso = fmt.iso(text)
            if iso is not None and iso.isascii():
                try:
                    return datetime.fromisoformat(iso).isoformat() + self.offset
                except ValueError:
                    pass  # not digits, or not a date: the regex decides, as for any other text
            match = fmt.pattern.match(text)
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


INVALID = object()
"""What a column converter returns for a value it cannot map (the row is quarantined)."""
CACHE = 8192
"""Remembered answers per converter: dates, codes and people recur row after row."""


class Memo(dict):
    """A converter with its answers remembered: `memo[value]` converts `value` once.

    A hit is one dict lookup in C, half the cost of an `lru_cache` call (no call, no recency
    list), which counts with eight converted columns per row. Memory stays bounded: the memo is
    emptied when it holds `size` answers.
    """

    def __init__(self, convert: Callable[[str], object], size: int = CACHE):
        super().__init__()
        self.convert, self.size = convert, size

    def __missing__(self, value: str) -> object:
        if len(self) >= self.size:
            self.clear()
        answer = self[value] = self.convert(value)
        return answer


class RowMapper:
    """Compiles the mapping, once per distinct file header, into a :class:`RowPlan`."""

    def __init__(self, mapping: CsvMapping, pseudonym: Callable[[str | None], str | None]):
        self.m = mapping
        self.pseudonym = Memo(pseudonym)
        self.time = Memo(self._time(TimeReader(mapping.date_formats, mapping.timezone)))
        self.kinds = {k.casefold(): v for k, v in mapping.values.kind.items()}
        self.statuses = {k.casefold(): v for k, v in mapping.values.status.items()}
        self.channels = {k.casefold(): v for k, v in mapping.values.channel.items()}
        self._plans: dict[tuple[str, ...], RowPlan] = {}
        self._converters: dict[str, tuple[Memo | None, str]] = {}

    def plan(self, header: list[str]) -> "RowPlan":
        """The compiled plan for files with this header."""
        key = tuple(header)
        if key not in self._plans:
            self._plans[key] = RowPlan(self, header)
        return self._plans[key]

    def converter(self, field: str) -> tuple[Memo | None, str]:
        """(value → mapped value or INVALID as a :class:`Memo`, None for as-is; the reason an INVALID
        value is refused). One memo per converter, shared by every plan and column using it."""
        if field not in self._converters:
            self._converters[field] = self._converter(field)
        return self._converters[field]

    def _converter(self, field: str) -> tuple[Memo | None, str]:
        if field in TIME_FIELDS:
            return self.time, f"matches none of {self.m.date_formats}"
        if field in PERSONAL_FIELDS:
            return self.pseudonym, ""
        if field == "actor":
            policy = self.m.officer_names
            return Memo(lambda value: None) if policy == "drop" else None if policy == "keep" else self.pseudonym, ""
        if field == "kind":
            return Memo(self._kind), f"is not in the mapping's values.{field}"
        if field == "status":
            return Memo(self._status), "is not a national status code 1–10 or a mapped value"
        if field == "channel":
            return Memo(lambda value: self.channels.get(value.casefold(), value)), ""
        return None, ""

    @staticmethod
    def _time(reader: TimeReader) -> Callable[[str], object]:
        def convert(value: str) -> object:
            iso = reader(value)
            return INVALID if iso is None else iso
        return convert

    def _kind(self, value: str) -> object:
        kind = self.kinds.get(value.casefold())
        return kind if kind is not None else value if value in EVENT_KINDS else INVALID

    def _status(self, value: str) -> object:
        code = self.statuses.get(value.casefold())
        if code is None and value.isdigit():
            code = int(value)
        return code if code is not None and 1 <= code <= 10 else INVALID


def _refusal(column: str, field: str, reason: str) -> Callable[[str], str]:
    """The error message of a refused value of `column`."""
    return lambda value: f"{column!r} ({field}): {value!r} {reason}"


class RowPlan:
    """The mapping compiled for one file header into straight-line functions per row.

    Mapping a row is the adapter's hot loop: instead of walking the mapping for every row, the
    plan generates (once per header) Python source that reads each mapped column by index and
    converts it, the way `dataclasses` generates `__init__`. Only column indexes and field names
    (from a fixed set) enter the source; converters, messages and values are passed as names.

    Two functions come from the one description of the mapping:

    * :meth:`fragment` (a split row → fragment, or RecordError naming every problem): the full,
      validating path;
    * :meth:`plain` (a line's text → fragment, or None): the fast path for the plain case, an
      unquoted line with as many fields as the header and every value accepted. It splits and
      unpacks the line itself and stops at the first thing that is not plain, leaving the
      reasons to :meth:`fragment`; its fragments are those :meth:`fragment` gives.
    """

    def __init__(self, mapper: RowMapper, header: list[str]):
        m = mapper.m
        index = {name: at for at, name in enumerate(header)}
        self.width = len(header)
        self.missing = [column for column in m.columns.values() if column not in index]
        self.personal = sorted(index[column] for field, column in m.columns.items()
                               if (field in PERSONAL_FIELDS or field == "actor") and column in index)
        """Indexes of the columns holding names or identifiers (pseudonymised in quarantined rows)."""
        mapped = [column for field, column in m.columns.items() if field not in PERSONAL_FIELDS and field != "actor"]
        self.clear = frozenset(index[column] for column in mapped + [spec.column for spec in m.date_events]
                               if column in index)
        """Indexes of the mapped columns kept in clear in quarantined rows (any other is pseudonymised)."""
        if self.missing:
            return
        full, fast = _Code(), _Code(fast=True)
        for code in (full, fast):
            _row_body(code, mapper, index)
        self.fragment = full.compile(self.width, m.delimiter)
        self.plain = fast.compile(self.width, m.delimiter)

    def fragment(self, row: list[str]) -> dict:  # replaced per instance by the compiled function
        """The fragment of one row (as many fields as the header); raises RecordError naming every problem."""
        raise RecordError([f"columns {self.missing} are not in the file's header"])

    def plain(self, text: str) -> dict | None:  # replaced per instance by the compiled function
        """The fragment of a plain line (see the class), None for any other line."""
        return None


def _row_body(code: "_Code", mapper: RowMapper, index: dict[str, int]) -> None:
    """The statements that turn a row into its fragment."""
    m = mapper.m
    dossier = code.value(index[m.columns["dossier"]])
    code.add(f"dossier = {dossier}",
             f"if not dossier: {code.error(code.name(repr(m.columns['dossier']) + ' (dossier): empty'))}",
             "fragment = {'dossier': dossier}")
    for field, column in m.columns.items():
        if field in HEADER_FIELDS or field in PERSONAL_FIELDS:
            code.field(mapper, "fragment", field, column, index[column], keep_none=True)
    if "at" in m.columns:
        code.add(f"event = {{'kind': {code.name(m.default_kind)}}}")
        for field, column in m.columns.items():
            if field in EVENT_FIELDS:
                code.field(mapper, "event", field, column, index[column], keep_none=False)
        code.add(f"if 'at' not in event: {code.error(code.name(repr(m.columns['at']) + ' (at): empty'))}",
                 "events = [event]")
    else:
        code.add("events = []")
    for spec in m.date_events:
        code.date_event(mapper, spec, index[spec.column])
    code.add("fragment['events'] = events")


class _Code:
    """Source lines and the namespace of a generated row function: the validating one (`row` →
    fragment or RecordError) or, with `fast`, the plain-line one (`text` → fragment or None)."""

    def __init__(self, fast: bool = False):
        self.fast = fast
        self.lines: list[str] = []
        self.names: dict[str, object] = {"RecordError": RecordError, "INVALID": INVALID}
        self.columns: set[int] = set()

    def name(self, value: object) -> str:
        """A name in the namespace bound to `value`."""
        name = f"_{len(self.names)}"
        self.names[name] = value
        return name

    def add(self, *lines: str) -> None:
        """Append lines of the function body."""
        self.lines.extend(lines)

    def value(self, at: int) -> str:
        """The expression of column `at`'s text (the fast function has each column in a local)."""
        if self.fast:
            self.columns.add(at)
            return f"c{at}"
        self.add(f"value = row[{at}]")
        return "value"

    def error(self, message: str) -> str:
        """The statement for a problem whose message is the expression `message`."""
        return "return None" if self.fast else f"errors.append({message})"

    def field(self, mapper: RowMapper, target: str, field: str, column: str, at: int, keep_none: bool) -> None:
        """Copy or convert one column into `target` (a refused value names column, field and reason)."""
        convert, reason = mapper.converter(field)
        value = self.value(at)
        self.add(f"if {value}:")
        if convert is None:
            self.add(f"    {target}[{field!r}] = {value}")
            return
        self.add(f"    mapped = {self.name(convert)}[{value}]", self._invalid(column, field, reason, value))
        self.add(f"    {target}[{field!r}] = mapped" if keep_none else
                 f"    if mapped is not None: {target}[{field!r}] = mapped")

    def date_event(self, mapper: RowMapper, spec: "DateEvent", at: int) -> None:
        """An event from a date column (one-row-per-dossier exports)."""
        convert, reason = mapper.converter("at")
        extra = f", 'step': {self.name(spec.step)}" if spec.step else ""
        value = self.value(at)
        self.add(f"if {value}:",
                 f"    mapped = {self.name(convert)}[{value}]", self._invalid(spec.column, "at", reason, value),
                 f"    events.append({{'at': mapped, 'kind': {self.name(spec.kind)}{extra}}})")

    def _invalid(self, column: str, field: str, reason: str, value: str) -> str:
        refuse = self.name(_refusal(column, field, reason))
        then = "" if self.fast else "; mapped = None"
        return f"    if mapped is INVALID: {self.error(f'{refuse}({value})')}{then}"

    def source(self, width: int, delimiter: str) -> str:
        """The generated function's source."""
        if self.fast:
            self.names["DELIMITER"] = delimiter
            targets = ", ".join(f"c{at}" if at in self.columns else "_" for at in range(width))
            head = ["def plain(text):", "if '\"' in text: return None", "try:",
                    f"    [{targets}] = text.split(DELIMITER)",
                    "except ValueError:  # not as many fields as the header", "    return None"]
            tail = ["return fragment"]
        else:
            head = ["def fragment(row):", "errors = []"]
            tail = ["if errors: raise RecordError(errors)", "return fragment"]
        return head[0] + "\n" + "".join(f"    {line}\n" for line in head[1:] + self.lines + tail)

    def compile(self, width: int, delimiter: str) -> Callable:
        """The generated function."""
        source = self.source(width, delimiter)
        namespace = dict(self.names)
        exec(compile(source, "<csv row plan>", "exec"), namespace)  # noqa: S102 - our own source
        return namespace["plain" if self.fast else "fragment"]  # type: ignore[return-value]
