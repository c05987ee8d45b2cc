"""Drift of the ISO procedures from the national catalogue of administrative procedures.

Three rules, each finding naming the procedure code and the ISO version:

- **limit** — the total time limit of the ISO version in force on the as-of day exceeds the
  catalogue's legal limit. Working days and working hours compare through the working calendar's
  hours per day; calendar days compare with calendar days. Working time against calendar days
  cannot be compared (how many calendar days a working day takes depends on the weekends and
  holidays on the way): such a pair is listed as *not comparable*, never guessed.
- **abolished** — a procedure the catalogue lists as abolished or replaced still has dossiers
  received on or after the effective date of the deciding document (per agency: how many, the last).
- **update** — Decision 19/2014/QĐ-TTg asks agencies to update their ISO procedures when the legal
  texts change; the rule applied is the one of issue 17 (update within :data:`UPDATE_MONTHS` months
  of the deciding document's effective date). An ISO version effective on or after that date and no
  later than the deadline counts as the update; a later one is *updated late*, none at all after the
  deadline is *not updated* (a version without `effective_from` proves no update). Before the
  deadline nothing is found; the procedure is listed as *due*.

ISO procedures whose code the catalogue does not list are named too (*not in catalogue*).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

from ..models import Procedure
from ..procedures import ProcedureBook, ProcedureError
from .catalogue import Catalogue, CatalogueEntry
from .coverage import Coverage

UPDATE_MONTHS = 3
"""Months an ISO procedure has to follow a change of the deciding document."""
WORKING_UNITS = ("working_days", "working_hours")
KINDS = ("limit", "not_comparable", "abolished", "not_updated", "updated_late", "due", "not_in_catalogue")
"""Kinds of finding, in the order they are shown; the last two are notes, not drift."""
NOTES = frozenset(("due", "not_in_catalogue", "not_comparable"))
UNIT_WORDS = {"working_days": "ngày làm việc", "working_hours": "giờ làm việc", "calendar_days": "ngày"}


@dataclass(frozen=True)
class Finding:
    """One drift finding (or note) about a procedure."""

    kind: str
    procedure: str
    name: str
    version: str
    catalogue: str
    iso: str
    detail: str
    agency: str = ""


def add_months(day: date, months: int) -> date:
    """The same day `months` later (the month's last day when it has fewer days)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _version(procedure: Procedure) -> str:
    since = f", hiệu lực {procedure.effective_from:%d/%m/%Y}" if procedure.effective_from else ""
    return f"lần ban hành {procedure.version}{since}"


def limit_text(value: float | None, unit: str | None) -> str:
    """'3 ngày làm việc' (the legal or ISO limit in words; '—' when none)."""
    if value is None or unit is None:
        return "—"
    return f"{value:g} {UNIT_WORDS.get(unit, unit)}".replace(".", ",")


def _hours(value: float, unit: str, hours_per_day: float) -> float:
    return value * hours_per_day if unit == "working_days" else value


def limit_finding(entry: CatalogueEntry, procedure: Procedure, hours_per_day: float) -> Finding | None:
    """A finding when the ISO total limit exceeds the legal one, or cannot be compared with it."""
    if entry.limit is None or entry.limit_unit is None:
        return None
    ours, unit = procedure.limit.value, str(procedure.limit.unit)
    legal, iso = limit_text(entry.limit, entry.limit_unit), limit_text(ours, unit)
    legal += f" ({entry.level})" if entry.level else ""
    base = (procedure.code, procedure.name, _version(procedure), legal, iso)
    if unit in WORKING_UNITS and entry.limit_unit in WORKING_UNITS:
        over = _hours(ours, unit, hours_per_day) - _hours(entry.limit, entry.limit_unit, hours_per_day)
        if over > 1e-9:
            return Finding("limit", *base, f"vượt {over:g} giờ làm việc ({hours_per_day:g} giờ một ngày làm việc)"
                           .replace(".", ","), procedure.agency)
        return None
    if unit == entry.limit_unit == "calendar_days":
        if ours > entry.limit + 1e-9:
            return Finding("limit", *base, f"vượt {ours - entry.limit:g} ngày".replace(".", ","), procedure.agency)
        return None
    return Finding("not_comparable", *base, "không so sánh được: một bên tính ngày làm việc, một bên tính ngày"
                   " theo lịch (số ngày nghỉ, ngày lễ xen giữa không cố định)", procedure.agency)


def update_finding(entry: CatalogueEntry, versions: list[tuple[date, Procedure]], as_of: date) -> Finding | None:
    """A finding when no ISO version followed the deciding document within the deadline."""
    deadline = add_months(entry.effective, UPDATE_MONTHS)
    latest = versions[-1][1]
    legal = f"{entry.document or 'văn bản quyết định'}, hiệu lực {entry.effective:%d/%m/%Y}"
    updates = [(start, procedure) for start, procedure in versions
               if procedure.effective_from is not None and start >= entry.effective]
    if updates:
        start, procedure = updates[0]
        if start <= deadline:
            return None
        return Finding("updated_late", entry.code, procedure.name, _version(procedure), legal,
                       f"cập nhật ngày {start:%d/%m/%Y}",
                       f"chậm {(start - deadline).days} ngày so với hạn {deadline:%d/%m/%Y}", procedure.agency)
    current = _version(latest) if latest.effective_from else f"lần ban hành {latest.version}, không ghi ngày hiệu lực"
    if as_of <= deadline:
        return Finding("due", entry.code, latest.name, current, legal, "chưa cập nhật",
                       f"hạn cập nhật {deadline:%d/%m/%Y}", latest.agency)
    return Finding("not_updated", entry.code, latest.name, current, legal, "chưa cập nhật",
                   f"quá hạn cập nhật {deadline:%d/%m/%Y} ({(as_of - deadline).days} ngày)", latest.agency)


def abolished_findings(entry: CatalogueEntry, coverage: Coverage) -> list[Finding]:
    """Agencies still receiving dossiers of a procedure abolished or replaced in the catalogue."""
    found = []
    what = "bị thay thế" + (f" bởi {entry.replaced_by}" if entry.replaced_by else "") \
        if entry.status == "replaced" else "đã bãi bỏ"
    for use in coverage.uses.values():
        if use.procedure == entry.code and use.after_cutoff:
            found.append(Finding("abolished", entry.code, entry.name, "", f"{what} từ {entry.effective:%d/%m/%Y}"
                                 + (f" ({entry.document})" if entry.document else ""),
                                 f"{use.after_cutoff} hồ sơ tiếp nhận từ ngày đó",
                                 f"hồ sơ cuối tiếp nhận ngày {date.fromisoformat(use.last_after_cutoff):%d/%m/%Y}",
                                 use.agency))
    return found


def cutoffs(catalogue: Catalogue) -> dict[str, str]:
    """Procedure code → the day its abolition or replacement took effect (for the coverage counter)."""
    return {code: entry.effective.isoformat() for code, entry in catalogue.entries.items() if entry.status != "active"}


def drift(book: ProcedureBook, catalogue: Catalogue, coverage: Coverage, as_of: date,
          hours_per_day: float = 8.0, agency: str | None = None) -> list[Finding]:
    """Every drift finding and note, by kind (:data:`KINDS`), then procedure code and agency
    (only those of `agency` when given: the ISO version's agency, or the dossiers')."""
    found: list[Finding] = []
    for code, entry in catalogue.entries.items():
        if entry.status != "active":
            found.extend(abolished_findings(entry, coverage))
            continue
        versions = book.versions.get(code)
        if not versions:
            continue
        try:
            current = book.lookup(code, as_of)
        except ProcedureError:
            current = None
        if current is not None and (finding := limit_finding(entry, current, hours_per_day)):
            found.append(finding)
        if finding := update_finding(entry, versions, as_of):
            found.append(finding)
    for code, versions in book.versions.items():
        if code not in catalogue.entries:
            latest = versions[-1][1]
            found.append(Finding("not_in_catalogue", code, latest.name, _version(latest), "—", "",
                                 "mã thủ tục không có trong danh mục đã nhập", latest.agency))
    if agency is not None:
        found = [finding for finding in found if finding.agency == agency]
    return sorted(found, key=lambda f: (KINDS.index(f.kind), f.procedure, f.agency))
