"""The DVCQG mapping file (`mappings/dvcqg.toml`) and payload → case-log fragment mapping."""

from __future__ import annotations

import tomllib
from datetime import datetime
from importlib import resources
from pathlib import Path
from functools import lru_cache
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from isobridge.core import ConfigurationError, nfc, RecordError

from .privacy import applicant_value
from .rows import RowProfile, RowRule

DOSSIER, PROGRESS, STATUS_ONLY = "DongBoHoSoMC", "CapNhatTienDoHoSoMC", "DongBoTrangThaiHoSo"
"""The payload kinds: a dossier header, a progress row, a status-only body (not read)."""
DOSSIER_STATES = range(1, 11)


class MappingError(ConfigurationError):
    """The dvcqg mapping file or the profile a source names is invalid (one line: file, key, reason)."""


class DvcqgMapping(BaseModel):
    """The whole mapping file."""

    model_config = ConfigDict(extra="forbid")
    timezone: str = "+07:00"
    officer_names: Literal["pseudonym", "keep", "drop"] = "pseudonym"
    received_event: bool = False
    channels: dict[str, str] = Field(default_factory=dict)
    profile: str = "opencps"
    """The profile progress rows are read with, unless a source names another."""
    profiles: dict[str, RowProfile] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _no_legacy_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and ({"steps", "progress"} & data.keys()):
            raise ValueError(
                "`[[steps]]` and `[progress.kinds]` are replaced by `[profiles.NAME]`: a progress row means "
                "different things from different senders (OpenCPS names the unit an action was done from); "
                "start from the bundled mappings/dvcqg.toml")
        return data

    def model_post_init(self, _context: Any) -> None:
        """The default profile exists."""
        self.row_profile(self.profile)

    def row_profile(self, name: str | None) -> RowProfile:
        """The profile `name` (None: the default one); MappingError naming the known ones."""
        name = name or self.profile
        if name not in self.profiles:
            raise MappingError(f"profile {name!r} is not in the mapping (it has {sorted(self.profiles)})")
        return self.profiles[name]

    @classmethod
    def load(cls, path: Path | None = None) -> "DvcqgMapping":
        """Load a mapping file (None: the bundled `isobridge.mappings/dvcqg.toml`); MappingError in one line."""
        where = path or "mappings/dvcqg.toml"
        try:
            if path is None:
                text = resources.files("isobridge.mappings").joinpath("dvcqg.toml").read_text("utf-8")
            else:
                text = Path(path).read_text("utf-8")
            return cls.model_validate(tomllib.loads(text))
        except OSError as exc:
            raise MappingError(f"{where}: cannot read: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise MappingError(f"{where}: invalid TOML: {exc}") from None
        except ValidationError as exc:
            raise MappingError(f"{where}: " + "; ".join(
                f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors())) from None


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

    def __init__(self, mapping: DvcqgMapping, pseudonym: Callable[[str | None], str | None],
                 profile: str | None = None):
        self.mapping, self.pseudonym = mapping, lru_cache(maxsize=65536)(pseudonym)
        self.profile_name = profile or mapping.profile
        self.profile = mapping.row_profile(self.profile_name)

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
        status = self._status(item, code, errors)
        if status is not None:
            fragment["status"] = status
        if item.get("DonViXuLy"):
            fragment["agency"] = _text(item["DonViXuLy"])
        channel = self.mapping.channels.get(str(item.get("KenhThucHien", "")))
        if channel:
            fragment["channel"] = channel
        applicant = applicant_value(item)
        if applicant:
            fragment["applicant"] = self.pseudonym(str(applicant))
        fragment["events"] = self._header_events(item, received, status, errors)
        if errors:
            raise RecordError(errors)
        return [fragment]

    def _status(self, item: dict, code: str, errors: list[str]) -> int | None:
        """The dossier's national status; one the profile cannot read is an error."""
        status = _status(item.get("TrangThaiHoSo"), errors, code)
        if status == 9 and self.profile.status_9_folds and not item.get("NgayKetThucXuLy"):
            errors.append(f"TrangThaiHoSo: 9 without NgayKetThucXuLy for dossier {code}: profile "
                          f"{self.profile_name!r} sends statuses 5, 6 and 8 as 9, so it may be paused or stopped")
        return status

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
        """Fragment of one progress row (CapNhatTienDoHoSoMC), read as the profile says."""
        errors: list[str] = []
        code = _required(item, "MaHoSo", errors)
        at = portal_time(item.get("ThoiDiemXuLy"), "ThoiDiemXuLy", self.mapping.timezone, errors)
        if at is None and not any(e.startswith("ThoiDiemXuLy") for e in errors):
            errors.append("ThoiDiemXuLy: missing")
        unit, text, status = row_fields(item)
        rule = self.profile.place(unit, text, status)
        if rule is None:
            errors.append(f"no rule of profile {self.profile_name!r} places this row (PhongBanXuLy {unit!r}, "
                          f"TrangThai {status!r}; NoiDungXuLy withheld): add one to the mapping")
        if errors:
            raise RecordError(errors)
        events = self.profile.events(rule, at, unit, self._actor(item.get("NguoiXuLy")))  # type: ignore[arg-type]
        return [{"dossier": code, "events": events}] if events else []

    def rule_of(self, item: dict) -> RowRule | None:
        """The rule that places a progress row (None: none does)."""
        return self.profile.place(*row_fields(item))


def row_fields(item: dict) -> tuple[str, str, str]:
    """(unit, text, status code) of a progress row, NFC text, stripped."""
    return tuple(_text(item.get(name) or "")  # type: ignore[return-value]
                 for name in ("PhongBanXuLy", "NoiDungXuLy", "TrangThai"))


def _required(item: dict, field: str, errors: list[str]) -> str:
    value = item.get(field)
    if value in (None, ""):
        errors.append(f"{field}: missing")
        return ""
    return _text(value)


def _text(value: Any) -> str:
    """Text as stored: NFC (one spelling of each Vietnamese letter), stripped."""
    return nfc(str(value)).strip()


def _status(value: Any, errors: list[str], dossier: str) -> int | None:
    """The national status code 1–10; an empty or local-only (0) one is a reason to quarantine.

    A dossier header without a status would wait `pending` for ever: OpenCPS sends "" when its
    status mapping table has no national code for the dossier's state, Thanh Hóa 0 for a local one.
    """
    if value is None or str(value).strip() == "":
        errors.append(f"TrangThaiHoSo: empty for dossier {dossier} — the sending system has no national status "
                      "for its state (OpenCPS sends \"\" when its status mapping lacks it); map it there and send again")
        return None
    text = str(value).strip()
    try:
        code = int(text)
    except ValueError:
        errors.append(f"TrangThaiHoSo: {text[:20]!r} is not a number")
        return None
    if code == 0:
        errors.append(f"TrangThaiHoSo: 0 for dossier {dossier} is a local-only state (e.g. interoperating) "
                      "with no national status")
        return None
    if code not in DOSSIER_STATES:
        errors.append(f"TrangThaiHoSo: {code} is not a national status code 1–10")
        return None
    return code
