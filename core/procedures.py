"""Loading ISO procedures from a folder of TOML files, one procedure (version) per file."""

from __future__ import annotations

import tomllib
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pydantic import ValidationError

from .errors import ConfigurationError
from .models import Procedure


class ProcedureError(ConfigurationError):
    """A procedure file is invalid, or no procedure applies to a dossier."""


def read_procedure(path: Path) -> Procedure:
    """Parse and validate one procedure TOML file; errors name the file and the bad key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return Procedure.model_validate(data)
    except tomllib.TOMLDecodeError as exc:
        raise ProcedureError(f"{path}: invalid TOML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ProcedureError(f"{path}: {problems}") from None


def procedure_files(folder: str | Path) -> list[Path]:
    """The procedure files (`*.toml`) of a folder, sorted; ProcedureError when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ProcedureError(f"{folder}: not a folder of procedure files")
    files = sorted(folder.glob("*.toml"))
    if not files:
        raise ProcedureError(f"{folder}: no procedure files (*.toml)")
    return files


@dataclass
class ProcedureBook:
    """All procedure versions by national code; picks the version in force at reception."""

    versions: dict[str, list[tuple[date, Procedure]]]

    @classmethod
    def from_procedures(cls, procedures: list[Procedure]) -> "ProcedureBook":
        """Index procedures by code and effective date."""
        versions: dict[str, list[tuple[date, Procedure]]] = {}
        for procedure in procedures:
            start = procedure.effective_from or date.min
            versions.setdefault(procedure.code, []).append((start, procedure))
        for code, items in versions.items():
            items.sort(key=lambda item: item[0])
            starts = [start for start, _ in items]
            if len(set(starts)) != len(starts):
                raise ProcedureError(f"procedure {code}: two versions share an effective date")
        return cls(versions)

    @classmethod
    def from_dir(cls, folder: str | Path) -> "ProcedureBook":
        """Load every `*.toml` in a folder."""
        return cls.from_procedures([read_procedure(path) for path in procedure_files(folder)])

    def lookup(self, code: str, received: date) -> Procedure:
        """The version of procedure `code` in force on `received`."""
        items = self.versions.get(code)
        if not items:
            raise ProcedureError(f"unknown procedure {code!r}")
        position = bisect_right([start for start, _ in items], received) - 1
        if position < 0:
            raise ProcedureError(f"procedure {code!r} has no version in force on {received}")
        return items[position][1]

    def __iter__(self):
        """Iterate over every procedure version."""
        for items in self.versions.values():
            for _, procedure in items:
                yield procedure
