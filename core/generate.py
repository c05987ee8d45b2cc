"""A seeded, reproducible generator of realistic synthetic case logs.

Dossiers follow the bundled procedures over the working calendar: receptions in office hours
(online ones at any hour), hand-overs between units, some late steps, supplement pauses,
apologies, refusals, sent-back steps, skipped and swapped steps and dossiers still open.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Iterator

import orjson

from .calendar import DAY, VN_TZ, WorkingCalendar, format_instant
from .engine import Allowance
from .models import Procedure
from .procedures import ProcedureBook, ProcedureError

OFFICERS = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Hoàng Cường", "Phạm Thu Dung", "Võ Minh Đức", "Đặng Thị Hà"]
CHANNELS = (("direct", 0.55), ("online", 0.40), ("post", 0.05))


@dataclass
class GeneratorSettings:
    """Knobs of the synthetic case log (rates are per dossier)."""

    start: date = date(2025, 7, 1)
    end: date = date(2026, 10, 31)
    late_step_rate: float = 0.08
    supplement_rate: float = 0.07
    refusal_rate: float = 0.03
    sent_back_rate: float = 0.04
    skip_rate: float = 0.015
    swap_rate: float = 0.01
    open_rate: float = 0.06


class CaseLogGenerator:
    """Generates case-log records (dicts in the case-log shape)."""

    def __init__(self, book: ProcedureBook, calendar: WorkingCalendar, seed: int = 766,
                 settings: GeneratorSettings | None = None):
        self.calendar, self.settings = calendar, settings or GeneratorSettings()
        self.random = random.Random(seed)
        start = self.settings.start
        # the version of each procedure in force on the first day (a superseded version, e.g. one
        # handled by a district before 01/07/2025, must not receive dossiers after its end)
        self.procedures = _in_force(book, start) or list(book)
        self.first = int(datetime(start.year, start.month, start.day, tzinfo=VN_TZ).timestamp())
        last = self.settings.end
        self.span = int(datetime(last.year, last.month, last.day, tzinfo=VN_TZ).timestamp()) - self.first
        self._allowances = {
            id(p): [Allowance.of(s.limit, calendar) for s in p.steps] for p in self.procedures
        }

    def records(self, count: int) -> Iterator[dict]:
        """Yield `count` dossiers, ordered by reception."""
        instants = sorted(self.first + self.random.randrange(self.span) for _ in range(count))
        for number, instant in enumerate(instants, 1):
            yield self._dossier(number, instant)

    def write(self, count: int, out: IO[bytes]) -> None:
        """Write `count` dossiers as JSON Lines to a binary stream."""
        for record in self.records(count):
            out.write(orjson.dumps(record) + b"\n")

    # -- one dossier -------------------------------------------------------------------------
    def _duration(self, allowance: Allowance, late: bool) -> int:
        rnd = self.random
        factor = rnd.uniform(1.15, 2.2) if late else rnd.betavariate(2, 3) * 0.95
        if allowance.working is not None:
            return max(60, int(allowance.working * factor))
        return max(3600, int(allowance.days * DAY * factor))  # type: ignore[operator]

    def _after(self, instant: int, allowance: Allowance, late: bool) -> int:
        duration = self._duration(allowance, late)
        if allowance.working is not None:
            return self.calendar.add(instant, duration)
        return self.calendar.add(instant + duration, 1800)

    def _dossier(self, number: int, instant: int) -> dict:
        rnd, cal, cfg = self.random, self.calendar, self.settings
        procedure: Procedure = rnd.choice(self.procedures)
        allowances = self._allowances[id(procedure)]
        channel = rnd.choices([c for c, _ in CHANNELS], [w for _, w in CHANNELS])[0]
        received = instant if channel == "online" else cal.add(instant, rnd.randrange(60, 1800))
        code = f"000.00.{number % 90 + 10}.H{(number * 7) % 63 + 1:02d}-{_yymmdd(received)}-{number:07d}"
        steps = list(procedure.steps)
        if rnd.random() < cfg.skip_rate and len(steps) > 3:
            del steps[rnd.randrange(1, len(steps) - 1)]
        elif rnd.random() < cfg.swap_rate and len(steps) > 3:
            i = rnd.randrange(1, len(steps) - 2)
            steps[i], steps[i + 1] = steps[i + 1], steps[i]
        events: list[dict] = [_event(received, "received", step=steps[0].code, unit=steps[0].unit, actor=rnd.choice(OFFICERS))]
        limit = Allowance.of(procedure.limit, cal)
        computed = cal.due(received, limit)[0]
        due = computed if rnd.random() > 0.02 else cal.add(computed, 8 * 3600)
        record = {
            "dossier": code, "procedure": procedure.code, "agency": procedure.agency,
            "channel": channel, "received_at": format_instant(received), "due_at": format_instant(due),
            "status": 4, "events": events,
        }
        now = received
        if rnd.random() < cfg.refusal_rate:
            now = cal.add(now, rnd.randrange(600, 4 * 3600))
            events.append(_event(now, "refused", reason="Hồ sơ không thuộc thẩm quyền giải quyết"))
            record["status"] = 3
            return record
        stop_at = len(steps) if rnd.random() > cfg.open_rate else rnd.randrange(1, len(steps))
        late_step = rnd.randrange(len(steps)) if rnd.random() < cfg.late_step_rate else -1
        index = 0
        while index < stop_at:
            step = steps[index]
            allowance = allowances[procedure.steps.index(step)]
            end = self._after(now, allowance, index == late_step)
            if index == 1 and rnd.random() < cfg.supplement_rate:
                asked = cal.add(now, rnd.randrange(1800, 4 * 3600))
                back = cal.add(asked, rnd.randrange(1, 5) * cal.day_seconds)
                events.append(_event(asked, "supplement_requested", reason="Thiếu bản vẽ thiết kế"))
                events.append(_event(back, "supplement_received"))
                end = self._after(back, allowance, False)
            if index == late_step and rnd.random() < 0.5:
                events.append(_event(cal.add(now, 1800), "apology_issued", reason="Cần xác minh thêm",
                                     new_due_at=format_instant(cal.add(due, 2 * cal.day_seconds))))
            if index == stop_at - 1 and stop_at < len(steps):
                record["status"] = 5 if rnd.random() < 0.2 else 4
                if record["status"] == 5:
                    events.append(_event(cal.add(now, 3600), "supplement_requested", reason="Bổ sung giấy tờ"))
                return record
            nxt = steps[index + 1] if index + 1 < len(steps) else None
            if nxt is None:
                if not any(e["kind"] == "resolved" for e in events):
                    events.append(_event(now + 60, "resolved"))
                events.append(_event(end, "returned", unit=step.unit))
                record["status"] = 10
                break
            if index >= 2 and rnd.random() < cfg.sent_back_rate / 2:
                prev = steps[index - 1]
                events.append(_event(end, "sent_back", step=prev.code, from_unit=step.unit, unit=prev.unit,
                                     actor=rnd.choice(OFFICERS), reason="Cần làm rõ ý kiến thẩm định"))
                now, index = end, index - 1
                continue
            kind = "handover"
            if nxt is steps[-1]:
                events.append(_event(end - 60, "resolved"))
            events.append(_event(end, kind, step=nxt.code, from_unit=step.unit, unit=nxt.unit, actor=rnd.choice(OFFICERS)))
            now = end
            index += 1
        return record


def _in_force(book: ProcedureBook, day: date) -> list[Procedure]:
    """The version of each procedure code in force on `day` (codes with none then are left out)."""
    found = []
    for code in dict.fromkeys(p.code for p in book):
        try:
            found.append(book.lookup(code, day))
        except ProcedureError:
            continue
    return found


def _event(at: int, kind: str, **fields) -> dict:
    event = {"at": format_instant(at), "kind": kind}
    event.update((key, value) for key, value in fields.items() if value is not None)
    return event


def _yymmdd(instant: int) -> str:
    return datetime.fromtimestamp(instant, VN_TZ).strftime("%y%m%d")


def generate_file(path: str | Path, count: int, book: ProcedureBook, calendar: WorkingCalendar, seed: int = 766) -> None:
    """Write a synthetic case log of `count` dossiers to `path`."""
    with open(path, "wb") as out:
        CaseLogGenerator(book, calendar, seed).write(count, out)
