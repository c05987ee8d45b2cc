"""The plugin host: discovers plugins through entry points and collects what they register (internal)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from . import hookspecs
from .adapters import Sink, Source
from .errors import ConfigurationError

log = logging.getLogger("isobridge.plugins")
ENTRY_POINT_GROUP = "isobridge"
DISABLE_ENV = "ISOBRIDGE_DISABLE_PLUGINS"


class PluginError(ConfigurationError):
    """Two plugins claim the same name, or an adapter name is unknown."""


@dataclass
class PluginInfo:
    """One discovered plugin: where it comes from and what it registered."""

    name: str
    distribution: str = ""
    version: str = ""
    sources: list[str] = field(default_factory=list)
    sinks: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)
    error: str | None = None
    disabled: bool = False


@dataclass
class Registry:
    """Everything the loaded plugins registered."""

    manager: pluggy.PluginManager
    plugins: dict[str, PluginInfo]
    sources: dict[str, type[Source]] = field(default_factory=dict)
    sinks: dict[str, type[Sink]] = field(default_factory=dict)
    owners: dict[tuple[str, str], PluginInfo] = field(default_factory=dict, repr=False)
    """(kind, adapter name) → the plugin that registered it first."""

    @property
    def hook(self) -> Any:
        """The pluggy hook relay (for lifecycle notifications)."""
        return self.manager.hook

    def source(self, name: str) -> type[Source]:
        """The source class registered as `name`."""
        if name not in self.sources:
            raise PluginError(f"no source adapter {name!r}; installed: {sorted(self.sources) or 'none'}")
        return self.sources[name]

    def sink(self, name: str) -> type[Sink]:
        """The sink class registered as `name`."""
        if name not in self.sinks:
            raise PluginError(f"no sink adapter {name!r}; installed: {sorted(self.sinks) or 'none'}")
        return self.sinks[name]


def _disabled() -> set[str]:
    return {name.strip() for name in os.environ.get(DISABLE_ENV, "").split(",") if name.strip()}


def _info(entry: EntryPoint) -> PluginInfo:
    dist = getattr(entry, "dist", None)
    return PluginInfo(entry.name, dist.name if dist else "", dist.version if dist else "")


def load_plugins(extra: list[object] | None = None) -> Registry:
    """Discover `isobridge` entry points, register them and collect their adapters.

    A plugin that fails to import or to register is reported (in `isobridge plugins` and the
    log) and skipped; the others load. `extra` plugin objects (tests) are registered too.
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    plugins: dict[str, PluginInfo] = {}
    disabled = _disabled()
    loaded: list[tuple[PluginInfo, object]] = []
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        info = plugins.setdefault(entry.name, _info(entry))
        if entry.name in disabled:
            info.disabled = True
            continue
        try:
            module = entry.load()
            manager.register(module, name=entry.name)
            loaded.append((info, module))
        except Exception as exc:  # a broken plugin must not take the host down
            info.error = f"{type(exc).__name__}: {exc}"
            log.warning("plugin %s failed to load: %s", entry.name, info.error)
    for index, plugin in enumerate(extra or []):
        name = getattr(plugin, "__name__", f"extra-{index}")
        info = plugins.setdefault(name, PluginInfo(name))
        manager.register(plugin, name=name)
        loaded.append((info, plugin))
    registry = Registry(manager, plugins)
    for info, plugin in loaded:
        _collect(registry, info, plugin)
    return registry


def _collect(registry: Registry, info: PluginInfo, plugin: object) -> None:
    """Call one plugin's registration hooks, keeping what it registers apart from the others."""
    manager = registry.manager
    info.hooks = sorted(impl.name for impl in manager.get_hookcallers(plugin) or [])

    def add(kind: str, table: dict, names: list[str], name: str, value: Any) -> None:
        first = registry.owners.setdefault((kind, name), info)
        if name in table and table[name] is not value:
            raise PluginError(f"{kind} adapter {name!r} is registered by two plugins: {_named(first)} and"
                              f" {_named(info)}; uninstall one or disable it with {DISABLE_ENV}=NAME")
        table[name] = value
        names.append(name)

    calls = {
        "register_sources": lambda cls: add("source", registry.sources, info.sources, cls.name, cls),
        "register_sinks": lambda cls: add("sink", registry.sinks, info.sinks, cls.name, cls),
    }
    for hook_name, register in calls.items():
        function = getattr(plugin, hook_name, None)
        if function is None:
            continue
        try:
            function(register=register)
        except PluginError:
            raise  # two plugins claiming one name: neither can be trusted to be the one meant
        except Exception as exc:
            info.error = f"{hook_name}: {type(exc).__name__}: {exc}"
            log.warning("plugin %s failed in %s: %s", info.name, hook_name, exc)


def _named(info: PluginInfo) -> str:
    """`plugin 'x' (distribution isobridge-x 1.0)`: how an error names a plugin."""
    if not info.distribution:
        return f"plugin {info.name!r}"
    return f"plugin {info.name!r} (distribution {f'{info.distribution} {info.version}'.strip()})"
