"""The plugin face: built-in adapters, the scaffold and the adapter guide import only `isobridge.core`."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import isobridge.core as face

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*(ROOT / "adapters").rglob("*.py"), *(ROOT / "core/scaffold_templates").rglob("*.py.tmpl")])
GUIDE = ROOT / "docs/writing-an-adapter.md"
ALLOWED = {"isobridge.core", "isobridge.testing"}


def reaches_past_the_face(tree: ast.AST, depth: int) -> list[str]:
    """Imports of `isobridge.core.<module>`, of names the face does not offer, or relative ones out of the adapter."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names
                      if a.name.startswith("isobridge.") and a.name not in ALLOWED]
        elif isinstance(node, ast.ImportFrom) and node.level > depth:
            found.append(f"from {'.' * node.level}{node.module or ''} import …")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("isobridge."):
            if node.module not in ALLOWED and not node.module.startswith("isobridge.adapters."):
                found.append(f"from {node.module} import …")
            elif node.module == "isobridge.core":
                found += [f"from isobridge.core import {a.name}" for a in node.names if a.name not in face.__all__]
    return found


def own_package_depth(path: Path) -> int:
    """How many leading dots stay inside the adapter's own package (adapters/NAME/...)."""
    if "scaffold_templates" in path.parts:
        return 9
    return len(path.relative_to(ROOT / "adapters").parts) - 1


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_builtin_adapters_and_scaffold_import_only_the_face(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert reaches_past_the_face(tree, own_package_depth(path)) == []
    if path.parts[-3:-1] and "adapters" in path.parts:
        own = f"isobridge.adapters.{path.relative_to(ROOT / 'adapters').parts[0]}"
        others = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0
                  and (n.module or "").startswith("isobridge.adapters.") and not n.module.startswith(own)]
        assert others == [], "an adapter imports another adapter"


def test_the_adapter_guide_imports_only_the_face() -> None:
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
    imports = [block for block in blocks if "import" in block]
    assert imports, "the guide shows no import"
    for block in imports:
        try:
            tree = ast.parse(block)
        except SyntaxError:  # a signature in the generated hook reference, not code
            continue
        assert reaches_past_the_face(tree, 0) == []
    assert not re.search(r"isobridge\.core\.(?!testing\.hookdoc\b)[a-z_]+\.[A-Za-z]", GUIDE.read_text(encoding="utf-8"))


def test_the_check_finds_a_reach_past_the_face() -> None:
    bad = ast.parse("from isobridge.core.http import HttpClient\nfrom isobridge.core import Ledger\n"
                    "import isobridge.core.ledger\nfrom ...core import x\n")
    assert len(reaches_past_the_face(bad, 2)) == 4


@pytest.mark.parametrize("name", face.__all__)
def test_every_face_name_resolves(name: str) -> None:
    assert getattr(face, name) is not None
    assert getattr(face, name).__doc__ or not callable(getattr(face, name)) or name.isupper()


def test_importing_the_face_stays_cheap() -> None:
    """`import isobridge.core` loads no internal module, and `hookimpl` only pluggy's hook markers."""
    code = ("import sys, isobridge.core as c;"
            "print(sorted(m for m in sys.modules if m.startswith('isobridge.core.')));"
            "before = set(sys.modules); c.hookimpl;"
            "print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] in"
            " {'requests', 'lxml', 'pydantic', 'holidays', 'openpyxl', 'cryptography', 'msgspec'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    internal, heavy = out.splitlines()
    assert internal == "[]"
    assert heavy == "[]"
