"""The roll-up's judgements: agencies ranked, the units proposed for direct inspection, the previous period.

Ranking (best first), printed on the report as :data:`RANKING_RULE`: the on-time rate, higher
first, agencies with no dossier finished in the period last; ties broken by fewer quality-objective
misses, then fewer nonconformities per 100 dossiers, then a higher coverage (unknown after known),
then the agency's name (only so that the order is total).

Inspection (kiểm tra trực tiếp of the provincial ISO steering committee): the `weakest` last of the
ranking, plus `share` of the others (rounded up) drawn at random. Each of those gets a draw number
from the seed and its name (:func:`audit.draw_number`, keyed BLAKE2b); the smallest are drawn, so
the same seed gives the same list whatever order the inputs list the agencies in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

from .aggregate import Counts, Period
from .audit import draw_number
from .html import percent
from .objectives import Objectives
from .rollup import Coverage, Freshness, Rollup

RANKING_RULE = (
    "Xếp hạng theo tỷ lệ hồ sơ giải quyết trước hạn và đúng hạn trong kỳ, cao xếp trước; cơ quan không có hồ sơ "
    "giải quyết xong trong kỳ xếp sau cùng.",
    "Tỷ lệ bằng nhau thì xét lần lượt: ít mục tiêu chất lượng không đạt hơn; ít điểm không phù hợp trên 100 hồ sơ "
    "hơn; tỷ lệ hồ sơ có quy trình ISO áp dụng cao hơn (chưa xác định xếp sau); cuối cùng theo tên cơ quan (chỉ để "
    "thứ tự được xác định).",
)
"""The ranking rule in the report's words."""


@dataclass
class Standing:
    """One agency's measures in one period and its place in the ranking."""

    agency: str
    counts: Counts
    misses: int
    """Quality objectives not met (objectives with nothing to measure are not counted)."""
    objectives: int
    """Quality objectives the agency has."""
    coverage: Coverage | None
    freshness: Freshness | None = None
    rank: int = 0

    @property
    def on_time_rate(self) -> float | None:
        """Early or on time / finished (None when nothing finished)."""
        return self.counts.on_time_rate

    @property
    def nonconformities_per_100(self) -> float | None:
        """Nonconformities per 100 dossiers counted in the period (None when there are none)."""
        dossiers = self.counts.dossiers
        return self.counts.nonconformities * 100 / dossiers if dossiers else None

    @property
    def coverage_rate(self) -> float | None:
        """Share of dossiers with an ISO procedure in force (None when unknown)."""
        return self.coverage.rate if self.coverage is not None else None


def ranking_key(standing: Standing) -> tuple:
    """The sort key of :data:`RANKING_RULE` (best first)."""
    rate, found, covered = standing.on_time_rate, standing.nonconformities_per_100, standing.coverage_rate
    return (rate is None, -(rate or 0.0), standing.misses, found is None, found or 0.0,
            covered is None, -(covered or 0.0), standing.agency)


def misses(objectives: Objectives, agency: str, counts: Counts) -> int:
    """How many of the agency's quality objectives are not met by its counts."""
    return sum(objective.met(counts) is False for objective in objectives.for_agency(agency))


def standings(rollup: Rollup, index: int, objectives: Objectives) -> list[Standing]:
    """Every agency in period `index`, ranked (rank 1 the best)."""
    table = rollup.counts[index]
    found = []
    for agency in rollup.agencies():
        counts = table.get(agency) or Counts()
        found.append(Standing(agency, counts, misses(objectives, agency, counts), len(objectives.for_agency(agency)),
                              rollup.coverage_of(index, agency), rollup.freshness(agency)))
    found.sort(key=ranking_key)
    for place, standing in enumerate(found, 1):
        standing.rank = place
    return found


def province(rollup: Rollup, index: int) -> Counts:
    """The counts of every agency together in period `index`."""
    total = Counts()
    for counts in rollup.counts[index].values():
        total.merge(counts)
    return total


@dataclass
class Inspection:
    """The units proposed for direct inspection and how they were chosen."""

    seed: int
    weakest: list[str]
    """The last of the ranking, worst first."""
    drawn: list[str]
    """Drawn at random from the others, in ranking order."""
    others: int
    share: float

    def reason(self, agency: str) -> str:
        """Why an agency is on the list ('' when it is not)."""
        if agency in self.weakest:
            return "Xếp cuối bảng (nhóm yếu nhất)"
        return "Chọn ngẫu nhiên" if agency in self.drawn else ""

    def rule(self) -> str:
        """The selection rule in the report's words, with the seed."""
        return (f"Đề xuất kiểm tra trực tiếp: {len(self.weakest)} cơ quan xếp cuối bảng xếp hạng và "
                f"{percent(self.share)} số cơ quan còn lại ({self.others} cơ quan, làm tròn lên: {len(self.drawn)}) "
                f"chọn ngẫu nhiên. Mỗi cơ quan còn lại nhận một số rút thăm tính từ hạt giống (seed) {self.seed} và "
                "tên cơ quan (hàm băm BLAKE2b có khóa); các cơ quan có số nhỏ nhất được chọn. Cùng hạt giống cho "
                "cùng danh sách, không phụ thuộc thứ tự của dữ liệu; các cơ quan khác được kiểm tra qua báo cáo.")


def inspection(ranked: list[Standing], seed: int, weakest: int = 3, share: float = 0.2) -> Inspection:
    """The weakest `weakest` of a ranking plus `share` of the rest drawn with `seed` (see the module)."""
    if weakest < 0 or not 0 <= share <= 1:
        raise ValueError(f"inspection: weakest {weakest} must be ≥ 0 and share {share} from 0 to 1")
    names = [standing.agency for standing in ranked]
    cut = max(len(names) - weakest, 0)
    rest = names[:cut]
    take = math.ceil(len(rest) * share - 1e-9)
    chosen = set(sorted(rest, key=lambda agency: (draw_number(seed, agency), agency))[:take])
    return Inspection(seed, names[cut:][::-1], [agency for agency in rest if agency in chosen], len(rest), share)


def _months_back(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def previous_period(period: Period) -> Period:
    """The period just before `period`, as long as it: whole months move back by as many months (a
    quarter to the previous quarter, a year to the previous year), other spans by as many days."""
    if not (period.start and period.end):
        raise ValueError("--compare previous needs the period: give --from and --to (e.g. a quarter or a year)")
    start, end = date.fromisoformat(period.start), date.fromisoformat(period.end)
    last = start - timedelta(days=1)
    if start.day == 1 and (end + timedelta(days=1)).day == 1:
        months = (end.year - start.year) * 12 + end.month - start.month + 1
        return Period(_months_back(start, months).isoformat(), last.isoformat())
    return Period((start - (end - start) - timedelta(days=1)).isoformat(), last.isoformat())
