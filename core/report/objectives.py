"""Quality objectives (mục tiêu chất lượng) per agency, read from TOML and checked against counts.

File shape::

    [default]                      # for every agency without its own table, and the whole report
    on_time_rate = ">= 0.98"
    overdue_open = "<= 0"

    [agency."Sở Tư pháp"]
    on_time_rate = ">= 0.99"
"""

from __future__ import annotations

import operator
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigurationError
from .aggregate import Counts


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


INDICATORS: dict[str, tuple[str, bool, Callable[[Counts], float | None]]] = {
    "on_time_rate": ("Tỷ lệ hồ sơ giải quyết trước hạn và đúng hạn", True, lambda c: c.on_time_rate),
    "late_rate": ("Tỷ lệ hồ sơ giải quyết quá hạn", True, lambda c: _ratio(c.late, c.finished)),
    "overdue_open": ("Số hồ sơ đang giải quyết quá hạn", False, lambda c: c.open_overdue),
    "overdue_open_rate": ("Tỷ lệ hồ sơ đang giải quyết quá hạn", True,
                          lambda c: _ratio(c.open_overdue, c.open_overdue + c.open_on_time)),
    "online_rate": ("Tỷ lệ hồ sơ tiếp nhận trực tuyến", True, lambda c: _ratio(c.online, c.received)),
    "nonconformity_rate": ("Tỷ lệ hồ sơ có điểm không phù hợp", True,
                           lambda c: _ratio(c.with_nonconformity, c.dossiers)),
}
"""Indicator name → (Vietnamese label, is a ratio, value from counts)."""

_OPERATORS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq}


class ObjectivesError(ConfigurationError):
    """An objectives file is invalid; the message names the file and key."""


@dataclass(frozen=True)
class Objective:
    """One target, e.g. on_time_rate >= 0.98."""

    indicator: str
    op: str
    target: float

    @property
    def label(self) -> str:
        """Vietnamese name of the indicator."""
        return INDICATORS[self.indicator][0]

    def value(self, counts: Counts) -> float | None:
        """The indicator's value (None when there is nothing to measure)."""
        return INDICATORS[self.indicator][2](counts)

    def met(self, counts: Counts) -> bool | None:
        """Whether the target is met (None when nothing to measure)."""
        value = self.value(counts)
        return None if value is None else _OPERATORS[self.op](value, self.target)


def parse_objective(indicator: str, text: object, where: str) -> Objective:
    """'>= 0.98' for `indicator` as an :class:`Objective`."""
    if indicator not in INDICATORS:
        raise ObjectivesError(f"{where}.{indicator}: unknown indicator; known: {', '.join(INDICATORS)}")
    parts = str(text).split()
    if len(parts) != 2 or parts[0] not in _OPERATORS:
        raise ObjectivesError(f"{where}.{indicator}: {text!r} is not 'OP NUMBER' (OP one of {' '.join(_OPERATORS)})")
    try:
        target = float(parts[1].rstrip("%")) / (100 if parts[1].endswith("%") else 1)
    except ValueError:
        raise ObjectivesError(f"{where}.{indicator}: {parts[1]!r} is not a number") from None
    return Objective(indicator, parts[0], target)


@dataclass
class Objectives:
    """Default objectives and per-agency overrides."""

    default: list[Objective]
    agencies: dict[str, list[Objective]]

    @classmethod
    def from_file(cls, path: str | Path) -> "Objectives":
        """Read and validate an objectives TOML file."""
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ObjectivesError(f"{path}: invalid TOML: {exc}") from None
        unknown = set(data) - {"default", "agency"}
        if unknown:
            raise ObjectivesError(f"{path}: unknown table(s) {sorted(unknown)}; use [default] and [agency.\"NAME\"]")
        default = [parse_objective(k, v, f"{path}: default") for k, v in data.get("default", {}).items()]
        agencies = {
            name: [parse_objective(k, v, f"{path}: agency.{name}") for k, v in table.items()]
            for name, table in data.get("agency", {}).items()
        }
        return cls(default, agencies)

    @classmethod
    def standard(cls) -> "Objectives":
        """The objective every one-stop agency has: on-time rate of at least 98 %."""
        return cls([Objective("on_time_rate", ">=", 0.98)], {})

    def for_agency(self, agency: str | None) -> list[Objective]:
        """An agency's objectives (the defaults when it has none of its own)."""
        return self.agencies.get(agency, self.default) if agency else self.default
