"""Vendor dates of a REST profile: the profile's formats first, then epoch milliseconds; and
the plausibility bounds that keep an absurd date out of the evidence and the checkpoint."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
"""No one-stop dossier is older than this: an earlier date is a misread value."""
DUE_HORIZON = timedelta(days=3660)
"""How far ahead of now a due date (appointment) may lie."""
EPOCH_TOKENS = {"epoch_ms": 1000, "epoch_s": 1}
"""`date_formats` entries reading a number (or digits) as epoch milliseconds or seconds."""


def parse_date(value: Any, formats: list[str], tz: tzinfo) -> datetime | None:
    """`value` as an aware datetime, None when no format reads it.

    The profile's `formats` are tried in order ('iso', 'epoch_ms', 'epoch_s' or a strftime
    pattern); only when none reads it is a JSON number or a digits-only text taken as epoch
    milliseconds (the common REST encoding). Naive values are in the profile's timezone.
    """
    if value in (None, "") or isinstance(value, bool):
        return None
    for pattern in formats:
        moment = _read(value, pattern)
        if moment is not None:
            return moment if moment.tzinfo else moment.replace(tzinfo=tz)
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.isascii() and value.isdigit()):
        return _epoch(value, 1000)
    return None


def _read(value: Any, pattern: str) -> datetime | None:
    if pattern in EPOCH_TOKENS:
        digits = isinstance(value, str) and value.isascii() and value.isdigit()
        return _epoch(value, EPOCH_TOKENS[pattern]) if digits or isinstance(value, (int, float)) else None
    if isinstance(value, int) and pattern != "iso":
        value = str(value)  # 20260302093000 sent as a JSON number
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value) if pattern == "iso" else datetime.strptime(value, pattern)
    except ValueError:
        return None


def _epoch(value: Any, per_second: int) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value) / per_second, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def implausible(moment: datetime, latest: datetime) -> str | None:
    """Why `moment` cannot be a real date of a dossier (before 2000, or after `latest`), else None."""
    if moment < EARLIEST:
        return f"before {EARLIEST.year}"
    if moment > latest:
        return f"later than {latest.isoformat(timespec='seconds')} (in the future)"
    return None
