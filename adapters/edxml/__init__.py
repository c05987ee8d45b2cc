"""The `edxml` source adapter: e-office document exchange packets (QCVN 102:2016)."""

from __future__ import annotations

from isobridge.core import hookimpl

from .source import EdxmlOptions, EdxmlSource

__all__ = ["EdxmlOptions", "EdxmlSource", "register_sources"]


@hookimpl
def register_sources(register) -> None:
    """Register the `edxml` source."""
    register(EdxmlSource)
