"""Paths in a deployment's options: made relative to the configuration file, and kept apart.

Every `Path` option of the settings and of each source and sink (nested models included) is
resolved against the configuration file's folder, so a run does not depend on the folder it was
started in (cron, systemd). At start-up the files sinks write are checked: two sinks writing one
file, a sink writing the ledger, or a sink writing where a source reads are refused.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from .errors import ConfigurationError

if TYPE_CHECKING:
    from .plugins import Registry
    from .settings import Settings


def resolve_paths(options: BaseModel, base: Path) -> BaseModel:
    """`options` (changed in place) with every relative `Path`, nested models and lists included,
    made relative to `base` (the configuration file's folder); `~` is the user's home."""
    for name in type(options).model_fields:
        value = getattr(options, name)
        resolved = _resolved(value, base)
        if resolved is not value:
            setattr(options, name, resolved)
    return options


def _resolved(value: Any, base: Path) -> Any:
    if isinstance(value, Path):
        path = value.expanduser()
        return path if path.is_absolute() else base / path
    if isinstance(value, BaseModel):
        return resolve_paths(value, base)
    if isinstance(value, (list, tuple)) and any(isinstance(item, (Path, BaseModel)) for item in value):
        return type(value)(_resolved(item, base) for item in value)
    return value


def refuse_shared_files(settings: Settings, registry: Registry, base: Path) -> None:
    """Raise :class:`ConfigurationError` naming both parties when two sinks would write one file, a
    sink would write the ledger, or a sink would write a file a source reads (its `folder` and
    `*pattern` options). A sink's files are what its options' `outputs()` lists (file sinks declare
    it); an adapter or options that are wrong are left for opening it to report."""
    owners: dict[Path, str] = {} if settings.ledger.shared else {settings.ledger.path.resolve(): "the ledger"}
    readers = list(_read_folders(settings, registry, base))
    for name, options in _validated(settings.sinks, registry.sinks, base):
        outputs = getattr(options, "outputs", None)
        for path in outputs() if callable(outputs) else []:
            other = owners.setdefault(Path(path).resolve(), f"sinks.{name}")
            if other != f"sinks.{name}":
                raise ConfigurationError(f"sinks.{name} and {other} both write {path}: give each its own file")
            for source, folder, patterns in readers:
                if _reads(folder, patterns, Path(path).resolve()):
                    raise ConfigurationError(f"sinks.{name} writes {path}, which sources.{source} reads"
                                             f" (folder {folder}, pattern {' or '.join(patterns)})")


def _validated(tables: dict[str, dict], classes: dict[str, type], base: Path):
    for name, table in tables.items():
        cls = classes.get(str(table.get("adapter")))
        try:
            options = cls.Options.model_validate({k: v for k, v in table.items() if k != "backfill"})  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 - an unknown adapter or bad options: opening it reports that
            continue
        yield name, resolve_paths(options, base)


def _read_folders(settings: Settings, registry: Registry, base: Path):
    """(source, folder, glob patterns) of every source that reads files from a folder."""
    for name, options in _validated(settings.sources, registry.sources, base):
        folder = getattr(options, "folder", None)
        patterns = [value for field, value in options if field.endswith("pattern") and isinstance(value, str)]
        if isinstance(folder, Path) and patterns:
            yield name, folder.resolve(), patterns


def _reads(folder: Path, patterns: list[str], path: Path) -> bool:
    """Whether a glob of `folder` with one of `patterns` would list `path`."""
    try:
        relative = path.relative_to(folder).as_posix()
    except ValueError:
        return False
    return any(_glob_regex(pattern).fullmatch(relative) for pattern in patterns)


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A pathlib glob (`*`, `?`, `[...]`, `**` for any folders) as a regular expression."""
    segments = pattern.strip("/").split("/")
    regex = ""
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            regex += ".*" if last else "(?:[^/]+/)*"
        else:
            regex += _segment_regex(segment) + ("" if last else "/")
    return re.compile(regex)


def _segment_regex(segment: str) -> str:
    out, i = [], 0
    while i < len(segment):
        char = segment[i]
        closing = segment.find("]", i + 2) if char == "[" else -1
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif closing > 0:
            body = segment[i + 1 : closing]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]")
            i = closing
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)
