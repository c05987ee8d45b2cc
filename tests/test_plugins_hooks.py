"""Every hook has a consumer and an implementation (datasette's check), and duplicate names are refused."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from isobridge.adapters.caselog import CaselogSource
from isobridge.core import Sink, WriteResult, hookimpl
from isobridge.core import hookspecs, plugins
from isobridge.core.cli import common, main

ROOT = Path(__file__).resolve().parents[1]
HOOKS = sorted(name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
               if hasattr(fn, "isobridge_spec"))
AS_OF = "2026-11-01T00:00:00+07:00"


def implemented_hooks() -> set[str]:
    """Names of every `@hookimpl` function in the built-in adapters and the test plugins."""
    found: set[str] = set()
    for folder in ("adapters", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.FunctionDef) and any(
                        (getattr(d, "id", None) or getattr(d, "attr", None)) == "hookimpl" for d in node.decorator_list):
                    found.add(node.name)
    return found


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_implemented_by_a_builtin_or_test_plugin(hook: str) -> None:
    assert hook in implemented_hooks(), f"no built-in or test plugin implements {hook}: it is untested"


class RecordingSink(Sink):
    """Accepts everything."""

    name = "recording"

    def write(self, batch):
        return WriteResult(accepted=[item.key for item in batch])


class RecordingPlugin:
    """A test plugin implementing every hook; `calls` lists what the host called, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    @hookimpl
    def register_sources(self, register):
        register(type("RecordedCaselog", (CaselogSource,), {"name": "recorded-caselog"}))

    @hookimpl
    def register_sinks(self, register):
        register(RecordingSink)

    @hookimpl
    def register_commands(self, commands):
        command = commands.add_parser("hello", help="a plugin's command")
        command.set_defaults(run=lambda args: self.calls.append(("hello",)) or 0)

    @hookimpl
    def run_started(self, run):
        self.calls.append(("run_started",))

    @hookimpl
    def run_finished(self, run, report):
        self.calls.append(("run_finished",))

    @hookimpl
    def record_quarantined(self, run, entry):
        self.calls.append(("record_quarantined", entry.stage))

    @hookimpl
    def checkpoint_committed(self, run, source, cursor):
        self.calls.append(("checkpoint_committed", source))


def test_the_host_calls_every_hook(tmp_path: Path, monkeypatch) -> None:
    plugin = RecordingPlugin()
    real = plugins.load_plugins
    monkeypatch.setattr(plugins, "load_plugins", lambda: real(extra=[plugin]))
    monkeypatch.setattr(common, "load_plugins", plugins.load_plugins)
    (tmp_path / "in").mkdir()
    (tmp_path / "in/a.jsonl").write_text('{"dossier": "broken\n', encoding="utf-8")
    (tmp_path / "conf.toml").write_text(
        '[ledger]\npath = "ledger.db"\n'
        '[sources.onestop]\nadapter = "recorded-caselog"\nfolder = "in"\n'
        '[sinks.out]\nadapter = "recording"\n', encoding="utf-8")
    assert main(["sync", "--config", str(tmp_path / "conf.toml"), "--as-of", AS_OF]) == 3
    assert main(["hello"]) == 0
    names = [call[0] for call in plugin.calls]
    assert names[0] == "run_started" and names[-2:] == ["run_finished", "hello"]
    assert ("record_quarantined", "map") in plugin.calls and ("checkpoint_committed", "onestop") in plugin.calls
    assert set(names) == {*HOOKS} - {"register_sources", "register_sinks", "register_commands"} | {"hello"}


def test_a_name_registered_by_two_plugins_is_an_error_naming_both(monkeypatch) -> None:
    class Twin:
        @hookimpl
        def register_sources(self, register):
            register(type("Other", (CaselogSource,), {"name": "caselog"}))

    with pytest.raises(plugins.PluginError) as error:
        plugins.load_plugins(extra=[Twin()])
    message = str(error.value)
    assert "source adapter 'caselog'" in message
    assert "plugin 'caselog' (distribution isobridge " in message and "plugin 'extra-0'" in message
    assert main(["plugins"]) == 0  # without the twin the host starts


def test_register_mapping_functions_is_gone() -> None:
    """No declarative mapping can call a function: a hook nobody consumes is not offered."""
    assert not hasattr(hookspecs, "register_mapping_functions")
    assert "register_mapping_functions" not in (ROOT / "docs/plugins.md").read_text(encoding="utf-8")


def test_optional_capabilities_are_protocols_the_builtin_sources_declare_by_their_methods() -> None:
    from isobridge.adapters.csv.source import CsvSource
    from isobridge.adapters.dvcqg.source import DvcqgSource
    from isobridge.adapters.opencps.source import OpenCPSSource
    from isobridge.adapters.rest.source import RestSource
    from isobridge.core import DraftsProcedures, ReportsUnconfirmed, ReportsUnmapped

    assert [issubclass(cls, ReportsUnmapped) for cls in (RestSource, DvcqgSource, OpenCPSSource, CsvSource)] == [
        True, True, True, False]
    assert issubclass(RestSource, ReportsUnconfirmed) and not issubclass(DvcqgSource, ReportsUnconfirmed)
    assert issubclass(OpenCPSSource, DraftsProcedures) and not issubclass(RestSource, DraftsProcedures)


def test_core_imports_no_adapter() -> None:
    """`isobridge mapping check` and every other command work from the core alone."""
    offenders = []
    for path in (ROOT / "core").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.startswith("isobridge.adapters")]
    assert offenders == []
