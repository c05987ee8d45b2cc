"""Local dates and Vietnamese date-time wording for reports (Asia/Ho_Chi_Minh, UTC+7)."""

from __future__ import annotations

from datetime import date, datetime

from ..calendar import VN_TZ

_LOCAL_SUFFIX = "+07:00"


def local_day(text: str | None) -> str | None:
    """The local (UTC+7) date of an ISO 8601 instant as 'YYYY-MM-DD'; fast for '+07:00' text."""
    if not text:
        return None
    if text.endswith(_LOCAL_SUFFIX) and len(text) >= 10:
        return text[:10]
    return local(text).date().isoformat()


def local(text: str) -> datetime:
    """An ISO 8601 instant in UTC+7; raises ValueError when it has no offset."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return moment.astimezone(VN_TZ)


def vn_datetime(text: str | None) -> str:
    """'09 giờ 31 phút, ngày 02/07/2025' (empty for None)."""
    if not text:
        return ""
    moment = local(text)
    return f"{moment:%H} giờ {moment:%M} phút, ngày {moment:%d/%m/%Y}"


def vn_short(text: str | None) -> str:
    """'02/07/2025 09 giờ 31' (empty for None)."""
    if not text:
        return ""
    if text.endswith(_LOCAL_SUFFIX) and len(text) >= 22 and text[10] == "T":  # fast: already local
        return f"{text[8:10]}/{text[5:7]}/{text[:4]} {text[11:13]} giờ {text[14:16]}"
    moment = local(text)
    return f"{moment:%d/%m/%Y %H} giờ {moment:%M}"


def vn_place_date(place: str | None, day: date) -> str:
    """'Đà Nẵng, ngày 07 tháng 07 năm 2025' (dots for the place when unknown)."""
    return f"{place or '…………'}, ngày {day:%d} tháng {day:%m} năm {day:%Y}"


def vn_date(day: date | str) -> str:
    """'02/07/2025'."""
    value = date.fromisoformat(day) if isinstance(day, str) else day
    return f"{value:%d/%m/%Y}"


def vn_month(month: str) -> str:
    """'YYYY-MM' as 'MM/YYYY'."""
    return f"{month[5:7]}/{month[:4]}"


def vn_today() -> date:
    """Today in Vietnam (the date a document is made on, whatever the server's time zone)."""
    return datetime.now(VN_TZ).date()
