"""What of a national-portal payload may be kept in the quarantine: an allow-list.

A payload carries the applicant (name, identity number, contacts, the portal's citizen id
`MaDoiTuong`), a free-text summary (`TrichYeuHoSo`), notes and attachment names. The quarantine
keeps only the fields the mapping reads — dates, codes, status, unit and agency names in clear,
people as keyed pseudonyms (idempotent, so a replayed item maps to the same pseudonyms), free text
that may name a person as a pseudonym — and lists the names of the keys it dropped.
"""

from __future__ import annotations

import hashlib
import re
from typing import Callable

import orjson

CLEAR_KEYS = frozenset({
    "MaHoSo", "MaTTHC", "NgayTiepNhan", "NgayHenTra", "TrangThaiHoSo", "DonViXuLy", "KenhThucHien",
    "NgayTuChoi", "NgayKetThucXuLy", "NgayTra", "ThoiDiemXuLy", "PhongBanXuLy", "TrangThai",
    "MaHoSoDonVi", "NgayXuLy",
})
"""Keys the mapping reads whose values are dates, codes or names of units and agencies."""
PSEUDONYMISED_KEYS = frozenset({"NguoiXuLy", "NoiDungXuLy"})
"""Keys the mapping reads that may name a person (an officer; an action note in free text)."""
APPLICANT_KEYS = ("SoGiayToChuHoSo", "DinhDanhCHS", "ChuHoSo")
"""Where the mapping finds the applicant; kept as one pseudonym under `SoGiayToChuHoSo`."""
SUPPLEMENT_DATES = ("NgayBoSung", "NgayTiepNhanBoSung")
FILE_MARK = "_file"
_MAX_TEXT = 200
_WORD = re.compile(r"\w+")

Pseudonym = Callable[[str | None], str | None]


def minimal_item(item: object, pseudonym: Pseudonym, service: str = "") -> dict:
    """The quarantine's copy of one payload item (see the module docstring)."""
    if not isinstance(item, dict):
        return {"_withheld": type(item).__name__}
    if item.get(FILE_MARK) is True:
        return item
    kept: dict = {"_service": service} if service else {}
    withheld: list[str] = []
    for key, value in item.items():
        if key in CLEAR_KEYS and _scalar(value):
            kept[key] = value[:_MAX_TEXT] if isinstance(value, str) else value
        elif key in PSEUDONYMISED_KEYS and _scalar(value):
            kept[key] = pseudonym(str(value)) if value not in (None, "") else value
        elif key == "DanhSachHoSoBoSung" and isinstance(value, list):
            kept[key] = [{k: e.get(k) for k in SUPPLEMENT_DATES if _scalar(e.get(k))} if isinstance(e, dict)
                         else None for e in value]
        elif key not in APPLICANT_KEYS and not key.startswith("_"):
            withheld.append(str(key)[:40])
    applicant = applicant_value(item)
    if applicant:
        kept["SoGiayToChuHoSo"] = pseudonym(applicant)
    if withheld:
        kept["_withheld"] = sorted(withheld)[:50]
    return kept


def _scalar(value: object) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def applicant_value(item: dict) -> str | None:
    """The applicant's identifier: SoGiayToChuHoSo, else DinhDanhCHS[].SoDinhDanh, else ChuHoSo."""
    if item.get("SoGiayToChuHoSo"):
        return str(item["SoGiayToChuHoSo"])
    for entry in item.get("DinhDanhCHS") or []:
        if isinstance(entry, dict) and entry.get("SoDinhDanh"):
            return str(entry["SoDinhDanh"])
    return str(item["ChuHoSo"]) if item.get("ChuHoSo") else None


def scrubbed_file(body: bytes, reason: str) -> str:
    """A summary of a file that is not JSON: why, its size, SHA-256 and a preview with every word elided."""
    head = body[:400].decode("utf-8", "replace")
    preview = _WORD.sub("…", head)[:160]
    return orjson.dumps({FILE_MARK: True, "reason": reason, "bytes": len(body),
                         "sha256": hashlib.sha256(body).hexdigest(), "preview": preview}).decode()
