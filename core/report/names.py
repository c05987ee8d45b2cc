"""Human names of procedures and steps, looked up in a procedure book (codes when unknown).

Internal module: plugins import its public names from `isobridge.core` (the face).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from ..procedures import ProcedureBook, ProcedureError


class ProcedureNames:
    """Procedure and step names for evidence records; falls back to the codes."""

    def __init__(self, book: ProcedureBook | None = None):
        self.book = book
        self._steps: dict[tuple[str, str], dict[str, tuple[str, str, str]]] = {}

    @classmethod
    def from_dir(cls, folder: str | Path | None) -> "ProcedureNames":
        """Names from a folder of procedure TOML files (None: no names, codes only)."""
        return cls(ProcedureBook.from_dir(folder) if folder else None)

    def _version(self, procedure: str, received_at: str) -> dict[str, tuple[str, str, str]]:
        """Step code → (name, unit, limit unit) of the version in force on the reception date."""
        key = (procedure, received_at[:10])
        found = self._steps.get(key)
        if found is not None:
            return found
        found = {}
        if self.book is not None:
            try:
                version = self.book.lookup(procedure, date.fromisoformat(received_at[:10]))
                found = {step.code: (step.name, step.unit, str(step.limit.unit)) for step in version.steps}
                found[""] = (version.name, version.agency, str(version.limit.unit))
            except (ProcedureError, ValueError):
                found = {}
        if len(self._steps) > 50_000:  # bounded cache: reception dates × procedures
            self._steps.clear()
        self._steps[key] = found
        return found

    def procedure(self, code: str, received_at: str = "") -> str:
        """Name of a procedure (its code when unknown)."""
        entry = self._version(code, received_at or "9999-12-31").get("")
        return entry[0] if entry else code

    def step(self, procedure: str, code: str, received_at: str = "") -> str:
        """Name of a step of a procedure (its code when unknown)."""
        entry = self._version(procedure, received_at or "9999-12-31").get(code)
        return entry[0] if entry else code

    def units(self, procedure: str, received_at: str = "") -> set[str]:
        """The units of a procedure's steps and its agency (empty when the procedure is unknown)."""
        return {entry[1] for entry in self._version(procedure, received_at or "9999-12-31").values() if entry[1]}

    def limit_unit(self, procedure: str, code: str, received_at: str = "") -> str | None:
        """The limit unit of a step ('working_days', 'calendar_days', …; None when unknown)."""
        entry = self._version(procedure, received_at or "9999-12-31").get(code)
        return entry[2] if entry else None
