"""The allow-list of a REST record: only the paths a profile reads are kept, personal ones as pseudonyms.

A vendor record carries far more than the evidence needs (applicant names, addresses, e-form
answers, officers' names). What the profile does not read never leaves the adapter, not even
into the quarantine; what it reads from a personal path leaves only as a keyed pseudonym.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from isobridge.core import nfc

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


class AllowList:
    """What one profile keeps of a record, worked out once; `apply` makes the kept copy."""

    def __init__(self, profile: Profile):
        personal = personal_paths(profile)
        self.header = [(path.split("."), _is_personal(path, personal)) for path in header_paths(profile)]
        spec = profile.events
        self.rows_at = spec.path.split(".") if spec else None
        self.row = [(path.split("."), _is_personal(f"{spec.path}.*.{path}", personal))
                    for path in row_paths(profile)] if spec else []

    def apply(self, item: dict, pseudonym: Callable[[Any], Any]) -> dict:
        """A new record holding only the allowed paths of `item`: text in NFC, personal values as pseudonyms."""
        kept: dict = {}
        for parts, hidden in self.header:
            _copy(item, kept, parts, hidden, pseudonym)
        rows = _get(item, self.rows_at) if self.rows_at else None
        if isinstance(rows, list):
            projected = []
            for row in rows:
                out: dict = {}
                for parts, hidden in self.row:
                    _copy(row, out, parts, hidden, pseudonym)
                projected.append(out)
            _put(kept, self.rows_at, projected)
        return kept


def allowed(item: dict, profile: Profile, pseudonym: Callable[[Any], Any]) -> dict:
    """A new record holding only what `profile` reads from `item`, personal values as pseudonyms."""
    return AllowList(profile).apply(item, pseudonym)


def _is_personal(path: str, personal: Iterable[str]) -> bool:
    """A path is personal when it is, or lies inside, a personal path."""
    return any(path == p or path.startswith(p + ".") for p in personal)


def _copy(src: Any, dst: dict, parts: list[str], hidden: bool, pseudonym: Callable[[Any], Any]) -> None:
    value = _get(src, parts)
    if value is not _ABSENT:
        value = nfc(value)  # the same text in NFD and NFC is one dossier, one unit, one pseudonym
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
