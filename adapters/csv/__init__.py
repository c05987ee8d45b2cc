"""The `csv` source adapter: spreadsheet exports with a declarative column mapping."""

from __future__ import annotations

from isobridge.core import hookimpl

from .source import CsvOptions, CsvSource

__all__ = ["CsvOptions", "CsvSource", "register_sources"]


@hookimpl
def register_sources(register) -> None:
    """Register the `csv` source."""
    register(CsvSource)
