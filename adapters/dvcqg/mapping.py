"""The DVCQG mapping file (`mappings/dvcqg.toml`) and payload → case-log fragment mapping."""

from __future__ import annotations

import re
import tomllib
from datetime import datetime
from importlib import resources
from pathlib import Path
from functools import lru_cache
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field

from isobridge.core.caselog import EVENT_KINDS, RecordError

DOSSIER_STATES = range(1, 11)


class StepRule(BaseModel):
    """A progress row whose unit and content match enters `step`."""

    model_config = ConfigDict(extra="forbid")
    unit: str = ""
    content: str = ""
    step: str

    def matches(self, unit: str, content: str) -> bool:
        """Both patterns (empty: any) are found, case-insensitively."""
        return all(re.search(pattern, text, re.IGNORECASE) for pattern, text in
                   ((self.unit, unit), (self.content, content)) if pattern)


class Progress(BaseModel):
    """How progress rows become events."""

    model_config = ConfigDict(extra="forbid")
    kinds: dict[str, str] = Field(default_factory=dict)


class DvcqgMapping(BaseModel):
    """The whole mapping file."""

    model_config = ConfigDict(extra="forbid")
    timezone: str = "+07:00"
    officer_names: Literal["pseudonym", "keep", "drop"] = "pseudonym"
    received_event: bool = False
    channels: dict[str, str] = Field(default_factory=dict)
    progress: Progress = Field(default_factory=Progress)
    steps: list[StepRule] = Field(default_factory=list)

    def model_post_init(self, _context: Any) -> None:
        """Reject kinds that are not event kinds."""
        wrong = {k: v for k, v in self.progress.kinds.items() if v not in EVENT_KINDS}
        if wrong:
            raise ValueError(f"progress.kinds: not event kinds: {wrong}")

    @classmethod
    def load(cls, path: Path | None = None) -> "DvcqgMapping":
        """Load a mapping file (None: the bundled `isobridge.mappings/dvcqg.toml`)."""
        if path is None:
            text = resources.files("isobridge.mappings").joinpath("dvcqg.toml").read_text("utf-8")
        else:
            text = Path(path).read_text("utf-8")
        return cls.model_validate(tomllib.loads(text))


def portal_time(value: Any, field: str, offset: str, errors: list[str]) -> str | None:
    """ISO 8601 of a yyyyMMddHHmmss (or yyyyMMdd, or ISO) portal date; None when absent."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    try:
        if text.isdigit() and len(text) in (8, 12, 14):
            text = text.ljust(14, "0")
            moment = datetime.strptime(text, "%Y%m%d%H%M%S")
            return moment.isoformat() + offset
        moment = datetime.fromisoformat(text)
        return moment.isoformat() if moment.tzinfo else moment.isoformat() + offset
    except ValueError:
        errors.append(f"{field}: {text!r} is not a yyyyMMddHHmmss date")
        return None


class PayloadMapper:
    """Maps DongBoHoSoMC dossiers and CapNhatTienDoHoSoMC rows to fragments."""

    def __init__(self, mapping: DvcqgMapping, pseudonym: Callable[[str | None], str | None]):
        self.mapping, self.pseudonym = mapping, lru_cache(maxsize=65536)(pseudonym)

    def _actor(self, name: Any) -> str | None:
        policy = self.mapping.officer_names
        if not name or policy == "drop":
            return None
        return str(name) if policy == "keep" else self.pseudonym(str(name))

    def dossier(self, item: dict) -> list[dict]:
        """Fragment of one dossier header (DongBoHoSoMC)."""
        errors: list[str] = []
        offset = self.mapping.timezone
        code = _required(item, "MaHoSo", errors)
        fragment: dict = {"dossier": code, "procedure": _required(item, "MaTTHC", errors)}
        received = portal_time(item.get("NgayTiepNhan"), "NgayTiepNhan", offset, errors)
        if received is None and not any(e.startswith("NgayTiepNhan") for e in errors):
            errors.append("NgayTiepNhan: missing")
        fragment["received_at"] = received
        due = portal_time(item.get("NgayHenTra"), "NgayHenTra", offset, errors)
        if due:
            fragment["due_at"] = due
        status = _status(item.get("TrangThaiHoSo"), errors)
        if status is not None:
            fragment["status"] = status
        if item.get("DonViXuLy"):
            fragment["agency"] = str(item["DonViXuLy"])
        channel = self.mapping.channels.get(str(item.get("KenhThucHien", "")))
        if channel:
            fragment["channel"] = channel
        applicant = item.get("SoGiayToChuHoSo") or _identity(item) or item.get("ChuHoSo")
        if applicant:
            fragment["applicant"] = self.pseudonym(str(applicant))
        fragment["events"] = self._header_events(item, received, status, errors)
        if errors:
            raise RecordError(errors)
        return [fragment]

    def _header_events(self, item: dict, received: str | None, status: int | None,
                       errors: list[str]) -> list[dict]:
        offset = self.mapping.timezone
        events: list[dict] = []

        def add(field: str, kind: str, value: Any = None, source: dict = item) -> None:
            at = portal_time(source.get(field) if value is None else value, field, offset, errors)
            if at:
                events.append({"at": at, "kind": kind})

        if self.mapping.received_event and received:
            events.append({"at": received, "kind": "received"})
        if status == 3:
            add("NgayTuChoi", "refused")
        add("NgayKetThucXuLy", "resolved")
        add("NgayTra", "returned")
        for index, extra in enumerate(item.get("DanhSachHoSoBoSung") or []):
            if isinstance(extra, dict):
                add("NgayBoSung", "supplement_requested", source=extra)
                add("NgayTiepNhanBoSung", "supplement_received", source=extra)
            else:
                errors.append(f"DanhSachHoSoBoSung[{index}]: expected an object")
        return events

    def progress(self, item: dict) -> list[dict]:
        """Fragment of one progress row (CapNhatTienDoHoSoMC)."""
        errors: list[str] = []
        code = _required(item, "MaHoSo", errors)
        at = portal_time(item.get("ThoiDiemXuLy"), "ThoiDiemXuLy", self.mapping.timezone, errors)
        if at is None and not any(e.startswith("ThoiDiemXuLy") for e in errors):
            errors.append("ThoiDiemXuLy: missing")
        unit = str(item.get("PhongBanXuLy") or "").strip()
        content = str(item.get("NoiDungXuLy") or "")
        state = str(item.get("TrangThai") or "").strip()
        kind = self.mapping.progress.kinds.get(state, "handover")
        step = next((rule.step for rule in self.mapping.steps if rule.matches(unit, content)), unit or None)
        if kind in ("received", "handover") and not step:
            errors.append("PhongBanXuLy: missing (no step can be derived)")
        if errors:
            raise RecordError(errors)
        event: dict = {"at": at, "kind": kind}
        if step and kind in ("received", "handover"):
            event["step"] = step
        if unit:
            event["unit"] = unit
        actor = self._actor(item.get("NguoiXuLy"))
        if actor:
            event["actor"] = actor
        return [{"dossier": code, "events": [event]}]


def _required(item: dict, field: str, errors: list[str]) -> str:
    value = item.get(field)
    if value in (None, ""):
        errors.append(f"{field}: missing")
        return ""
    return str(value).strip()


def _identity(item: dict) -> str | None:
    for entry in item.get("DinhDanhCHS") or []:
        if isinstance(entry, dict) and entry.get("SoDinhDanh"):
            return str(entry["SoDinhDanh"])
    return None


def _status(value: Any, errors: list[str]) -> int | None:
    """The national status code; 0 (a local-only state such as 'interoperating') is left out."""
    if value in (None, ""):
        return None
    try:
        code = int(str(value).strip())
    except ValueError:
        errors.append(f"TrangThaiHoSo: {value!r} is not a number")
        return None
    if code == 0:
        return None
    if code not in DOSSIER_STATES:
        errors.append(f"TrangThaiHoSo: {code} is not a national status code 1–10")
        return None
    return code
