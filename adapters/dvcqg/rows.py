"""Progress-row profiles: what one vendor's CapNhatTienDoHoSoMC row means, declared in the mapping.

The same payload means different things from different senders. OpenCPS names in `PhongBanXuLy`
the unit an action was done *from* (the dossier then leaves that unit's step); a Thanh Hóa-style
system sends no unit at all and names the action in `NoiDungXuLy`. A profile says which reading
applies and lists rules that place each row from its unit, its text and its status code.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from isobridge.core import EVENT_KINDS

NO_EVENT = "none"
"""The kind of a rule whose rows carry nothing for the case log (read, knowingly left out)."""
ENTERING = frozenset({"handover", "sent_back"})
"""Kinds that need the step they enter (`received` without a step enters the first step)."""


def bare(text: str) -> str:
    """Vietnamese diacritics stripped (any Unicode form in), đ→d."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@lru_cache(maxsize=8192)
def fold(text: str) -> str:
    """Text for matching: diacritics stripped, đ→d, case-folded, spaces collapsed."""
    return " ".join(bare(text).casefold().split())


class RowRule(BaseModel):
    """Rows whose unit, text and status all match become `kind` (entering `step`, then `then`)."""

    model_config = ConfigDict(extra="forbid")
    unit: str = ""
    """Regex searched, without diacritics and case, in the folded `PhongBanXuLy` (empty: any unit)."""
    text: str = ""
    """Regex searched, without diacritics and case, in the folded `NoiDungXuLy` (empty: any)."""
    status: list[str] = Field(default_factory=list)
    """`TrangThai` codes the row may carry (empty: any; "" matches a row sent without one)."""
    kind: str = "handover"
    """The event kind, or "none" for rows that carry nothing for the case log."""
    step: str = ""
    """The step the event enters (received/handover/sent_back)."""
    then: str = ""
    """A step handed over to at the same instant, after `step` (a reception that passes the dossier on)."""
    reason: str = ""
    """Reason of a `paused` event (as the procedures' `pauses` name it)."""
    unconfirmed: str = ""
    """Why this reading is not confirmed against a live system (shown by `mapping check`)."""
    _patterns: tuple[re.Pattern[str] | None, re.Pattern[str] | None] = PrivateAttr()

    def model_post_init(self, _context: Any) -> None:
        """Check the kind and compile the folded patterns."""
        if self.kind != NO_EVENT and self.kind not in EVENT_KINDS:
            raise ValueError(f"kind {self.kind!r} is not an event kind nor {NO_EVENT!r}")
        if self.kind in ENTERING and not self.step:
            raise ValueError(f"a {self.kind} rule needs the `step` it enters")
        self._patterns = (_compile(self.unit), _compile(self.text))

    def matches(self, unit: str, text: str, status: str) -> bool:
        """Unit and text (both folded) and the status code all fit this rule."""
        unit_pattern, text_pattern = self._patterns
        return ((not self.status or status in self.status)
                and (unit_pattern is None or unit_pattern.search(unit) is not None)
                and (text_pattern is None or text_pattern.search(text) is not None))

    def describe(self) -> str:
        """The rule as `mapping check` names it."""
        parts = [f"{name}={value!r}" for name, value in
                 (("unit", self.unit), ("text", self.text), ("status", self.status)) if value]
        return " ".join(parts) or "any row"


def _compile(pattern: str) -> re.Pattern[str] | None:
    """A rule's pattern without diacritics, case-insensitive (None: empty); ValueError if invalid."""
    if not pattern:
        return None
    try:
        return re.compile(bare(pattern), re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"pattern {pattern!r} is not a regular expression: {exc}") from None


class RowProfile(BaseModel):
    """One vendor's reading of progress rows."""

    model_config = ConfigDict(extra="forbid")
    row: Literal["enters", "leaves"]
    """enters: the row's unit takes the dossier (event `unit`); leaves: the unit did the action and
    hands the dossier on (event `from_unit`), so a rule names the step entered *after* it."""
    source: str = ""
    """Public code this reading follows (repository, path, commit)."""
    unconfirmed: str = ""
    """What of this reading is not confirmed against a live system."""
    status_9_folds: bool = False
    """The sender reports dossier statuses 5, 6 and 8 as 9: a dossier header in 9 without
    NgayKetThucXuLy cannot be read (it may be paused or stopped) and is quarantined."""
    rules: list[RowRule] = Field(min_length=1)

    def place(self, unit: str, text: str, status: str) -> RowRule | None:
        """The first rule that fits the row, or None."""
        unit, text = fold(unit), fold(text)
        return next((rule for rule in self.rules if rule.matches(unit, text, status)), None)

    def events(self, rule: RowRule, at: str, unit: str, actor: str | None) -> list[dict]:
        """The case-log events of a row placed by `rule`."""
        if rule.kind == NO_EVENT:
            return []
        event: dict = {"at": at, "kind": rule.kind}
        if rule.step:
            event["step"] = rule.step
        if rule.reason:
            event["reason"] = rule.reason
        if unit:
            event["from_unit" if self.row == "leaves" and rule.kind != "received" else "unit"] = unit
        if actor:
            event["actor"] = actor
        events = [event]
        if rule.then:
            events.append({"at": at, "kind": "handover", "step": rule.then, **({"from_unit": unit} if unit else {})})
        return events

