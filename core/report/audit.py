"""The internal audit's sample (chọn mẫu hồ sơ đánh giá nội bộ): reproducible, per procedure, stratified.

Dossiers received in the period are grouped by agency and procedure. Each group is split into two
strata: *flagged* dossiers (a nonconformity, a late or overdue step, or a late or overdue dossier)
and the others. The sample size of a group follows :data:`SIZE_BANDS` (all when few); up to
:data:`FLAGGED_SHARE` of it is drawn from the flagged stratum, the rest from the others, and at
least one dossier of each stratum that has any (sizes of two or more).

Every dossier gets a draw number from the seed and its code (keyed BLAKE2b); in each stratum the
dossiers with the smallest numbers are drawn. The same seed gives the same sample whatever order
the ledger or the file lists the dossiers in. Memory holds the counts and at most
:data:`MAXIMUM` draw numbers per stratum, never the evidence of the whole period.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .aggregate import Period, problems
from .timefmt import local_day

SIZE_BANDS: tuple[tuple[int | None, int | None], ...] = (
    (5, None), (25, 5), (100, 8), (500, 13), (2000, 20), (None, 32))
"""(up to this many dossiers in the group, sample size): None as size = all of them; None as bound = more."""
MINIMUM, MAXIMUM = 5, 32
"""The smallest sample of a group (unless it has fewer dossiers) and the largest."""
FLAGGED_SHARE = (2, 3)
"""At most two thirds of a group's sample come from the flagged stratum (rounded up)."""
LATE = frozenset(("late", "open_overdue"))


def sample_size(count: int) -> int:
    """How many of a group's `count` dossiers are drawn (:data:`SIZE_BANDS`)."""
    for bound, size in SIZE_BANDS:
        if bound is None or count <= bound:
            return count if size is None else min(size, count)
    raise AssertionError("the last band has no bound")


def split(size: int, flagged: int, others: int) -> tuple[int, int]:
    """(from the flagged stratum, from the others) for a sample of `size` out of two strata."""
    share, whole = FLAGGED_SHARE
    take = min(flagged, math.ceil(size * share / whole))
    if others and size >= 2:
        take = min(take, size - 1)
    rest = min(others, size - take)
    return min(flagged, size - rest), rest


def is_flagged(evidence: dict) -> bool:
    """A dossier with a nonconformity, a late or overdue step, or a late or overdue verdict."""
    if evidence.get("nonconformities") or evidence.get("verdict") in LATE:
        return True
    return any(isinstance(row, dict) and row.get("verdict") in LATE for row in evidence.get("steps") or [])


def shape_problems(evidence: dict) -> list[str]:
    """Why a countable record still cannot go on the working paper (empty when it can)."""
    found = [f"{key}: expected text" for key in ("dossier", "procedure", "received_at")
             if not isinstance(evidence.get(key), str)]
    for key in ("steps", "nonconformities"):
        if any(not isinstance(row, dict) for row in evidence[key]):
            found.append(f"{key}: expected objects")
    for row in evidence["steps"]:
        if isinstance(row, dict) and any(not isinstance(row.get(name), (int, float, type(None)))
                                         for name in ("used_minutes", "allowed_minutes")):
            found.append(f"steps: minutes of step {row.get('step')!r} are not numbers")
            break
    return found


def draw_seed() -> int:
    """A fresh six-digit seed, for a plan that does not name one."""
    return 100_000 + secrets.randbelow(900_000)


MAX_SEED = 10**18
"""Seeds are whole numbers from 0 up to (not including) this."""


def draw_number(seed: int, dossier: str) -> int:
    """The dossier's place in the draw of `seed`: the smallest numbers are drawn."""
    digest = hashlib.blake2b(dossier.encode("utf-8"), digest_size=8, key=f"isobridge-audit:{seed}".encode())
    return int.from_bytes(digest.digest(), "big")


@dataclass
class Stratum:
    """One stratum of a group: how many dossiers, and the MAXIMUM with the smallest draw numbers."""

    count: int = 0
    kept: list[tuple[int, str]] = field(default_factory=list)
    """A max-heap by draw number, stored as (-number, dossier)."""

    def add(self, number: int, dossier: str) -> None:
        """Count a dossier and keep it while it is among the MAXIMUM smallest numbers."""
        self.count += 1
        if len(self.kept) < MAXIMUM:
            heapq.heappush(self.kept, (-number, dossier))
        elif -self.kept[0][0] > number:
            heapq.heapreplace(self.kept, (-number, dossier))

    def first(self, size: int) -> list[str]:
        """The `size` dossiers with the smallest draw numbers, in draw order."""
        return [dossier for _, dossier in sorted((-negative, dossier) for negative, dossier in self.kept)[:size]]


@dataclass
class Group:
    """The dossiers of one procedure at one agency in the period, drawn."""

    agency: str
    procedure: str
    flagged: Stratum = field(default_factory=Stratum)
    others: Stratum = field(default_factory=Stratum)

    @property
    def count(self) -> int:
        """Dossiers of the group in the period."""
        return self.flagged.count + self.others.count

    @property
    def size(self) -> int:
        """The group's sample size."""
        return sample_size(self.count)

    def drawn(self) -> tuple[list[str], list[str]]:
        """(flagged dossiers drawn, other dossiers drawn)."""
        take, rest = split(self.size, self.flagged.count, self.others.count)
        return self.flagged.first(take), self.others.first(rest)


@dataclass
class AuditPlan:
    """The sample of a period: seed, groups in order, rejected evidence."""

    seed: int
    period: Period
    agency: str | None = None
    groups: dict[tuple[str, str], Group] = field(default_factory=dict)
    rejected: int = 0
    rejections: list[str] = field(default_factory=list)

    def ordered(self) -> list[Group]:
        """Groups by agency, then procedure code."""
        return [self.groups[key] for key in sorted(self.groups)]

    def dossiers(self) -> set[str]:
        """Every dossier drawn."""
        return {code for group in self.groups.values() for part in group.drawn() for code in part}


Reject = Callable[[str, list[str]], None]


class AuditSampler:
    """Streams evidence into an :class:`AuditPlan` (bounded memory)."""

    def __init__(self, seed: int, period: Period | None = None, agency: str | None = None):
        self.plan = AuditPlan(seed, period or Period(), agency)

    def _reject(self, where: str, reasons: list[str]) -> None:
        self.plan.rejected += 1
        if len(self.plan.rejections) < 20:
            self.plan.rejections.append(f"{where}: {'; '.join(reasons)}")

    def add(self, evidence: dict, where: str = "") -> None:
        """Count one dossier (its latest evidence) in its group and stratum, when in the period."""
        reasons = problems(evidence) or shape_problems(evidence)
        if reasons:
            self._reject(where or str(evidence.get("dossier", "?") if isinstance(evidence, dict) else "?"), reasons)
            return
        try:
            day = local_day(evidence["received_at"])
        except (TypeError, ValueError) as exc:
            self._reject(where or evidence["dossier"], [f"received_at: {exc}"])
            return
        period, plan = self.plan.period, self.plan
        if (period.start and day < period.start) or (period.end and day > period.end):
            return
        agency = str(evidence.get("agency") or "")
        if plan.agency is not None and agency != plan.agency:
            return
        key = (agency, str(evidence["procedure"]))
        group = plan.groups.get(key) or plan.groups.setdefault(key, Group(*key))
        stratum = group.flagged if is_flagged(evidence) else group.others
        stratum.add(draw_number(plan.seed, evidence["dossier"]), evidence["dossier"])


def draw(evidence: Iterable[tuple[str, dict]] | Iterable[dict], seed: int, period: Period | None = None,
         agency: str | None = None) -> AuditPlan:
    """The audit sample of the evidence (dicts, or (where, dict) pairs) received in the period."""
    sampler = AuditSampler(seed, period, agency)
    for item in evidence:
        if isinstance(item, tuple):
            sampler.add(item[1], item[0])
        else:
            sampler.add(item)
    return sampler.plan


def collect(evidence: Iterable[tuple[str, dict]] | Iterable[dict], wanted: set[str]) -> dict[str, dict]:
    """The last evidence record of each wanted dossier (the second pass over a file)."""
    found: dict[str, dict] = {}
    for item in evidence:
        record = item[1] if isinstance(item, tuple) else item
        if isinstance(record, dict) and record.get("dossier") in wanted:
            found[record["dossier"]] = record
    return found
