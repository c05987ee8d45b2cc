"""The plugin host: discovery, broken and disabled plugins, documented hooks, `isobridge plugins`."""

from __future__ import annotations

import inspect
import json
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from isobridge.core import hookspecs, plugins
from isobridge.core.cli import main

HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
         if hasattr(fn, "isobridge_spec")]
DOCS = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def test_builtin_adapters_register_through_entry_points() -> None:
    registry = plugins.load_plugins()
    assert {"caselog"} <= set(registry.sources) and {"jsonl", "ledger"} <= set(registry.sinks)
    assert registry.plugins["caselog"].distribution == "isobridge"


def test_broken_plugin_is_reported_and_skipped(monkeypatch) -> None:
    real = plugins.entry_points
    broken = EntryPoint(name="broken", value="isobridge_no_such_module.plugin", group="isobridge")
    monkeypatch.setattr(plugins, "entry_points", lambda group: [*real(group=group), broken])
    registry = plugins.load_plugins()
    assert "ModuleNotFoundError" in registry.plugins["broken"].error
    assert "caselog" in registry.sources


def test_disabled_plugins_are_skipped(monkeypatch, capsys) -> None:
    monkeypatch.setenv("ISOBRIDGE_DISABLE_PLUGINS", "jsonl, ledger")
    registry = plugins.load_plugins()
    assert "jsonl" not in registry.sinks and registry.plugins["jsonl"].disabled
    assert main(["plugins"]) == 0
    assert "jsonl\tisobridge" in capsys.readouterr().out


def test_plugins_command_lists_what_each_registers(capsys) -> None:
    assert main(["plugins", "--json"]) == 0
    listed = {p["name"]: p for p in json.loads(capsys.readouterr().out)}
    assert listed["caselog"]["sources"] == ["caselog"] and listed["caselog"]["version"]


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_is_documented(name: str) -> None:
    spec = getattr(hookspecs, name)
    assert spec.__doc__ and len(spec.__doc__.strip()) > 20, f"hook {name} has no docstring"
    assert inspect.signature(spec).return_annotation is not inspect.Signature.empty
    assert f"`{name}(" in DOCS.read_text(encoding="utf-8"), f"hook {name} missing from docs/plugins.md"
