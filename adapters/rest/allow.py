"""The allow-list of a REST record: only the paths a profile reads are kept, personal ones as pseudonyms.

A vendor record carries far more than the evidence needs (applicant names, addresses, e-form
answers, officers' names). What the profile does not read never leaves the adapter, not even
into the quarantine; what it reads from a personal path leaves only as a keyed pseudonym.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .profile import Profile


def header_paths(profile: Profile) -> list[str]:
    """Dotted paths of the dossier-level values the profile reads."""
    fields = profile.fields
    paths = [fields.key, fields.dossier, fields.procedure, fields.received_at, fields.status,
             fields.agency, fields.due_at, fields.channel, fields.applicant]
    if profile.incremental:
        paths.append(profile.incremental.field)
    paths.extend(milestone.at for milestone in profile.milestones)
    return [path for path in paths if path]


def row_paths(profile: Profile) -> list[str]:
    """Dotted paths, within one event row, of the values the profile reads."""
    spec = profile.events
    return [p for p in (spec.at, spec.step, spec.unit, spec.actor) if p] if spec else []


def personal_paths(profile: Profile) -> set[str]:
    """Paths whose values are personal data: `personal`, the applicant and the event actor."""
    paths = set(profile.personal) | ({profile.fields.applicant} - {""})
    if profile.events and profile.events.actor:
        paths.add(f"{profile.events.path}.*.{profile.events.actor}")
    return paths


def allowed(item: dict, profile: Profile, pseudonym: Callable[[Any], Any]) -> dict:
    """A new record holding only what `profile` reads from `item`, personal values as pseudonyms."""
    personal = personal_paths(profile)
    kept: dict = {}
    for path in header_paths(profile):
        _copy(item, kept, path.split("."), _is_personal(path, personal), pseudonym)
    spec = profile.events
    rows = _get(item, spec.path.split(".")) if spec else None
    if spec and isinstance(rows, list):
        inner = row_paths(profile)
        projected = []
        for row in rows:
            out: dict = {}
            for path in inner:
                hidden = _is_personal(f"{spec.path}.*.{path}", personal)
                _copy(row, out, path.split("."), hidden, pseudonym)
            projected.append(out)
        _put(kept, spec.path.split("."), projected)
    return kept


def _is_personal(path: str, personal: Iterable[str]) -> bool:
    """A path is personal when it is, or lies inside, a personal path."""
    return any(path == p or path.startswith(p + ".") for p in personal)


def _copy(src: Any, dst: dict, parts: list[str], hidden: bool, pseudonym: Callable[[Any], Any]) -> None:
    value = _get(src, parts)
    if value is not _ABSENT:
        _put(dst, parts, pseudonym(value) if hidden else value)


_ABSENT = object()


def _get(data: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.lstrip("-").isdigit() and -len(data) <= int(part) < len(data):
            data = data[int(part)]
        else:
            return _ABSENT
    return data


def _put(dst: dict, parts: list[str], value: Any) -> None:
    """Set `value` at a dotted path of plain keys (a list index becomes a key: the copy stays readable
    by the same dotted path through `dig`, which reads `{"0": …}` like `[…]`)."""
    for part in parts[:-1]:
        nxt = dst.get(part)
        if not isinstance(nxt, dict):
            nxt = dst[part] = {}
        dst = nxt
    dst[parts[-1]] = value
