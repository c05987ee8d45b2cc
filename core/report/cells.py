"""Spreadsheet cells that cannot run: the one formula neutraliser of every CSV isobridge writes."""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a text cell as a formula (OWASP CSV injection)."""


def cell(value: object) -> object:
    """A cell value; text that a spreadsheet would run as a formula gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(row: dict) -> dict:
    """A CSV row (column → value) with every cell neutralised."""
    return {column: cell(value) for column, value in row.items()}
