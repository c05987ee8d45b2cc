"""Settings problems as one line each: where the bad key came from, its dotted path, the reason.

Never the value: a secret under a misspelt key must not be echoed into a terminal or a log.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_settings import SettingsError

from .secret_files import secret_files, secret_keys

ENV_PREFIX = "ISOBRIDGE_"


def parsing_problem(exc: SettingsError, path: str | Path | None, secrets_dir: Path | None) -> str:
    """A pydantic-settings parsing failure as one line naming the variable or secret file."""
    found = re.search(r'field "([^"]+)" from source "(\w+)"', str(exc))
    if found is None:
        return f"settings: {_first_line(exc)}"
    field = found.group(1)
    origin = origin_of([field], path, secrets_dir)
    return f"{origin}: {field}: not a valid value (a whole table in one variable or file must be JSON)"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def problems(exc: ValidationError, model: type[BaseModel], path: str | Path | None,
             secrets_dir: Path | None, prefix: tuple[str, ...] = ()) -> str:
    """One line for every problem: origin, dotted key, reason (never the input value). `prefix` is
    where `model` sits in the settings (e.g. ``("sources", "onegate")`` for a source's options)."""
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = [str(part) for part in error["loc"]]
        full = [*prefix, *loc]
        origin = origin_of(full, path, secrets_dir)
        lines.append(f"{origin}: {'.'.join(full) or '(top)'}: {_reason(error, loc, model)}")
    return "; ".join(lines)


def _reason(error: Any, loc: list[str], model: type[BaseModel]) -> str:
    if error["type"] == "extra_forbidden":
        known = _known_keys(model, loc[:-1])
        return "unknown key" + (f" (expected one of: {', '.join(known)})" if known else "")
    return " ".join(str(error["msg"]).split())


def _known_keys(model: Any, loc: list[str]) -> list[str]:
    """The keys a settings section accepts (empty for free-form tables)."""
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = field.annotation
    return list(getattr(model, "model_fields", {}))


def origin_of(loc: list[str], path: str | Path | None, secrets_dir: Path | None) -> str:
    """Where the key at `loc` came from: an environment variable, a secret file or the file."""
    name = ENV_PREFIX + "__".join(loc).upper()
    for variable in os.environ:
        upper = variable.upper()
        if upper == name or upper.startswith(name + "__"):
            return f"environment variable {variable}"
    if secrets_dir is not None:
        for candidate in secret_files(secrets_dir):
            parts = secret_keys(secrets_dir, candidate)
            if parts[: len(loc)] == [part.lower() for part in loc]:
                return f"secret file {candidate}"
    return str(path) if path is not None else "settings"


def misspelt_setting(model: type[BaseModel], secrets_dir: Path | None) -> str | None:
    """One line for the first `ISOBRIDGE_…` variable or secret file that looks meant for a setting
    but names none (one underscore where two join a section and its key, or a key without its
    section): it would otherwise be ignored, e.g. a pseudonym key silently replaced by the ledger's."""
    names = [(f"environment variable {variable}", variable[len(ENV_PREFIX):], True)
             for variable in sorted(os.environ) if variable.upper().startswith(ENV_PREFIX)]
    if secrets_dir is not None:
        names += [(f"secret file {path}", "__".join(secret_keys(secrets_dir, path)), False)
                  for path in secret_files(secrets_dir)]
    for origin, name, variable in names:
        meant = _meant(model, name.lower())
        if meant:
            meant = f"{ENV_PREFIX}{meant.upper()}" if variable else meant
            return f"{origin}: not a setting (a section and its key are joined by two underscores: did you mean {meant}?)"
    return None


def _meant(model: type[BaseModel], name: str) -> str | None:
    """The setting `name` (without the prefix) was probably meant to be, or None."""
    sections = {field: getattr(info.annotation, "model_fields", {}) for field, info in model.model_fields.items()}
    if "__" in name or name in sections:
        return None
    for section, keys in sections.items():
        rest = name[len(section) + 1 :]
        if name.startswith(section + "_") and (rest in keys or not keys):
            return f"{section}__{rest if keys else '<name>__<key>'}"
        if name in keys:
            return f"{section}__{name}"
    return None
