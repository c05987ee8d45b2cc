"""Hook specifications of isobridge: how plugins register adapters and follow a sync (internal module:
plugins import `hookimpl` from `isobridge.core`).

A plugin is a module (or object) with functions decorated by :data:`hookimpl`, made known
through the `isobridge` entry-point group::

    [project.entry-points.isobridge]
    myvendor = "isobridge_myvendor.plugin"

Registration hooks receive a `register` callback; lifecycle hooks are notifications. Per-record
work never goes through hooks: it goes through the registered :class:`~isobridge.core.adapters.Source`
and :class:`~isobridge.core.adapters.Sink` classes.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Callable

import pluggy

if TYPE_CHECKING:
    from .adapters import Sink, Source
    from .runs import QuarantineEntry, RunInfo, RunReport

PROJECT = "isobridge"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
"""Decorator marking a plugin's hook implementations."""


@hookspec
def register_sources(register: Callable[["type[Source]"], None]) -> None:
    """Register source adapter classes: call ``register(SourceClass)`` for each.

    The class's ``name`` is what `adapter = "…"` in `[sources.NAME]` refers to. Two plugins
    registering the same name is an error naming both plugins and their distributions: the
    host does not start until one is uninstalled or disabled (`ISOBRIDGE_DISABLE_PLUGINS`).
    """


@hookspec
def register_sinks(register: Callable[["type[Sink]"], None]) -> None:
    """Register sink adapter classes: call ``register(SinkClass)`` for each.

    Sink names are global like source names: a name registered by two plugins is an error.
    """


@hookspec
def register_commands(commands: argparse._SubParsersAction) -> None:
    """Add sub-commands to the `isobridge` command line.

    Call ``commands.add_parser(...)`` and set ``run=function(args) -> int`` as its default.
    """


@hookspec
def run_started(run: "RunInfo") -> None:
    """A sync run started (notification)."""


@hookspec
def run_finished(run: "RunInfo", report: "RunReport") -> None:
    """A sync run finished, failed or was interrupted cleanly (notification)."""


@hookspec
def record_quarantined(run: "RunInfo", entry: "QuarantineEntry") -> None:
    """A record was quarantined with its original payload and errors (notification)."""


@hookspec
def checkpoint_committed(run: "RunInfo", source: str, cursor: str) -> None:
    """A source's checkpoint advanced, after every sink acknowledged what came before it."""
