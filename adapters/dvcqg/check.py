"""`mapping check` for national-portal payloads: what the mapping does not read, or reads unconfirmed."""

from __future__ import annotations

from .mapping import DOSSIER, PROGRESS, STATUS_ONLY, PayloadMapper, row_fields
from .rows import fold


def unmapped_codes(service: str, item: dict, mapper: PayloadMapper) -> set[tuple[str, str]]:
    """(category, code) pairs of one item: `row` no rule places, `unconfirmed` rule readings,
    `status` a dossier status that is not a national code, `service` a payload that is not read."""
    if service == STATUS_ONLY:
        return {("service", f"{STATUS_ONLY} (not read: folded status, no procedure)")}
    if service == DOSSIER:
        status = str(item.get("TrangThaiHoSo") if item.get("TrangThaiHoSo") is not None else "").strip()
        return set() if status.isdigit() and 1 <= int(status) <= 10 else {("status", f"TrangThaiHoSo {status!r}")}
    if service != PROGRESS:
        return set()
    unit, text, status = row_fields(item)
    rule = mapper.rule_of(item)
    profile = mapper.profile_name
    if rule is None:
        label = fold(text.split("-", 1)[0])[:40]  # OpenCPS: actionName-actionNote; the note stays out
        return {("row", f"{profile}: unit={unit!r} status={status!r} text={label!r}")}
    if rule.unconfirmed:
        return {("unconfirmed", f"{profile}: {rule.describe()} read as {rule.kind}: {rule.unconfirmed}")}
    return set()
