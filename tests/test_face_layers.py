"""The layering of docs/plugins.md is the one import-linter checks, and the code keeps it."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]


def layers() -> list[list[str]]:
    """The rows of the layers contract, top first, each a list of module names."""
    contract = next(c for c in CONFIG["contracts"] if c["type"] == "layers")
    return [[name.strip() for name in re.split(r"[:|]", row)] for row in contract["layers"]]


def test_the_picture_in_the_docs_has_the_rows_of_the_contract() -> None:
    text = (ROOT / "docs/plugins.md").read_text(encoding="utf-8")
    picture = text[text.index("## Layering"):text.index("## Lifecycle of a sync")]
    rows = re.findall(r"│ (.*?)\s*│", picture)
    merged: list[str] = []
    for row in rows:  # an indented row continues the one above it
        if row.startswith("  ") and merged:
            merged[-1] += " " + row
        else:
            merged.append(row)
    known = {name for row in layers() for name in row}
    drawn = [sorted({name for name in re.findall(r"[a-z_]+", row) if name in known}) for row in merged]
    assert drawn == [sorted(row) for row in layers()]


def test_every_core_module_has_a_place_in_the_layers() -> None:
    placed = {name for row in layers() for name in row}
    modules = {path.stem if path.is_file() else path.name for path in (ROOT / "core").iterdir()
               if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").exists()}
    assert modules - placed - {"scaffold_templates", "testing_alias"} == set()


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter is not installed (the test extra)")
def test_the_import_contracts_are_kept() -> None:
    done = subprocess.run(["lint-imports"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]
