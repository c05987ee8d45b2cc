"""The `dvcqg` source adapter: National Public Service Portal sync payloads."""

from __future__ import annotations

from isobridge.core import hookimpl

from .source import DvcqgOptions, DvcqgSource

__all__ = ["DvcqgOptions", "DvcqgSource", "register_sources"]


@hookimpl
def register_sources(register) -> None:
    """Register the `dvcqg` source."""
    register(DvcqgSource)
