"""The national catalogue of administrative procedures (Cơ sở dữ liệu quốc gia về TTHC), read from an export.

A declarative TOML mapping (bundled: ``mappings/catalogue/csdl-quoc-gia.toml``) names the export's
columns and maps its words for time-limit units and statuses::

    sheet = ""                       # XLSX sheet (the first when empty)
    date_formats = ["%d/%m/%Y", "%Y-%m-%d"]
    [columns]                        # our field = the export's column header
    code = "Mã thủ tục"              # required: code, name, limit, limit_unit, effective, status
    level = "Cấp thực hiện"          # optional: level, document, replaced_by
    [units]                          # the export's word = working_days | working_hours | calendar_days
    "Ngày làm việc" = "working_days"
    [statuses]                       # the export's word = active | abolished | replaced
    "Đang áp dụng" = "active"

Words are matched ignoring case, surrounding blanks and Unicode composition. A row that cannot be
read (empty code, limit not a number, unknown unit or status word, bad date, duplicate code) is
never dropped silently: it is listed as "FILE: row N: reason".
"""

from __future__ import annotations

import tomllib
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib.resources import files
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from ..errors import ConfigurationError
from .catalogue_read import catalogue_rows

DEFAULT_MAPPING = Path(str(files("isobridge.mappings") / "catalogue" / "csdl-quoc-gia.toml"))
"""The bundled column mapping of the national database's export."""
SAMPLE_CATALOGUE = Path(str(files("isobridge.core") / "data" / "catalogue" / "csdl-quoc-gia-mau.csv"))
"""A small sample catalogue matching the bundled sample procedures (illustrative values)."""
LIMIT_UNITS = ("working_days", "working_hours", "calendar_days")
STATUSES = ("active", "abolished", "replaced")


def word(text: str) -> str:
    """A vendor word in the form mappings are matched on (NFC, lower case, single spaces)."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


class Columns(BaseModel):
    """`[columns]`: the export's header of each catalogue field."""

    model_config = ConfigDict(extra="forbid")
    code: str
    name: str
    limit: str
    limit_unit: str
    effective: str
    status: str
    level: str | None = None
    document: str | None = None
    replaced_by: str | None = None


class CatalogueMapping(BaseModel):
    """A declarative mapping of a catalogue export's columns and words."""

    model_config = ConfigDict(extra="forbid")
    sheet: str = ""
    date_formats: list[str] = ["%d/%m/%Y", "%Y-%m-%d"]
    columns: Columns
    units: dict[str, Literal["working_days", "working_hours", "calendar_days"]]
    statuses: dict[str, Literal["active", "abolished", "replaced"]]

    @field_validator("units", "statuses")
    @classmethod
    def _matched_words(cls, table: dict[str, str]) -> dict[str, str]:
        return {word(key): value for key, value in table.items()}

    @classmethod
    def load(cls, path: str | Path | None = None) -> "CatalogueMapping":
        """Read a mapping file (None: the bundled one); a fault names the file and key."""
        path = Path(path) if path else DEFAULT_MAPPING
        try:
            return cls.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
        except OSError as exc:
            raise ConfigurationError(f"catalogue mapping {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"catalogue mapping {path}: invalid TOML: {exc}") from None
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                 for e in exc.errors(include_input=False, include_url=False))
            raise ConfigurationError(f"catalogue mapping {path}: {problems}") from None


@dataclass(frozen=True)
class CatalogueEntry:
    """One administrative procedure as the national catalogue publishes it."""

    code: str
    name: str
    limit: float | None
    """The legal time limit (None: the catalogue gives none)."""
    limit_unit: str | None
    effective: date
    """Effective date of the deciding document (công bố, sửa đổi, bãi bỏ or thay thế)."""
    status: str
    level: str = ""
    document: str = ""
    replaced_by: str = ""
    row: int = 0


@dataclass
class Catalogue:
    """The entries of a catalogue export by code, and every row that could not be read."""

    path: Path
    entries: dict[str, CatalogueEntry] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def _day(text: str, formats: list[str]) -> date:
    for layout in formats:
        try:
            return datetime.strptime(text, layout).date()
        except ValueError:
            continue
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise ValueError(f"{text!r} is not a date ({' or '.join(formats)})") from None


def _limit(text: str) -> float | None:
    if not text:
        return None
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        raise ValueError(f"legal time limit {text!r} is not a number") from None
    if value < 0:
        raise ValueError(f"legal time limit {text!r} is negative")
    return value


def _looked_up(table: dict[str, str], text: str, what: str) -> str:
    found = table.get(word(text))
    if found is None:
        raise ValueError(f"{what} {text!r} is not in the mapping (known: {', '.join(sorted(table)) or 'none'})")
    return found


def _entry(cells: dict[str, str], mapping: CatalogueMapping, number: int) -> CatalogueEntry:
    columns = mapping.columns
    value = {name: cells.get(header, "").strip() if header else ""
             for name, header in columns.model_dump().items()}
    if not value["code"]:
        raise ValueError(f"{columns.code}: empty procedure code")
    limit = _limit(value["limit"])
    unit = _looked_up(mapping.units, value["limit_unit"], "time-limit unit") if limit is not None else None
    if not value["effective"]:
        raise ValueError(f"{columns.effective}: empty effective date")
    return CatalogueEntry(value["code"], value["name"], limit, unit, _day(value["effective"], mapping.date_formats),
                          _looked_up(mapping.statuses, value["status"], "status"), value["level"],
                          value["document"], value["replaced_by"], number)


def read_catalogue(path: str | Path, mapping: CatalogueMapping | None = None) -> Catalogue:
    """Read a catalogue export through its mapping; unreadable rows are listed, never dropped.

    An unreadable file, or a header without one of the mapped columns, raises CatalogueFileError.
    """
    mapping = mapping or CatalogueMapping.load()
    catalogue = Catalogue(Path(path))
    wanted = [header for header in mapping.columns.model_dump().values() if header]
    for number, cells in catalogue_rows(path, wanted, mapping.sheet or None):
        if "" in cells:
            catalogue.errors.append(f"{path}: row {number}: {cells['']}")
            continue
        try:
            entry = _entry(cells, mapping, number)
        except ValueError as exc:
            catalogue.errors.append(f"{path}: row {number}: {exc}")
            continue
        if entry.code in catalogue.entries:
            catalogue.errors.append(f"{path}: row {number}: procedure {entry.code} is already on row"
                                    f" {catalogue.entries[entry.code].row}")
            continue
        catalogue.entries[entry.code] = entry
    return catalogue
