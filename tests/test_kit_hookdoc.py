"""The hook reference in docs/writing-an-adapter.md is the one generated from the hook specifications."""

from __future__ import annotations

from pathlib import Path

from isobridge.core import hookspecs
from isobridge.core.testing import hookdoc

DOC = Path(__file__).parent.parent / "docs" / "writing-an-adapter.md"


def test_doc_hook_section_matches_the_hookspecs():
    assert hookdoc.section(DOC.read_text(encoding="utf-8")) == hookdoc.render().strip("\n"), (
        "run: python -m isobridge.core.testing.hookdoc --write docs/writing-an-adapter.md")


def test_every_hookspec_is_rendered_with_its_signature():
    text = hookdoc.render()
    specs = [name for name, value in vars(hookspecs).items() if hasattr(value, "isobridge_spec")]
    assert len(specs) == len(hookdoc.hook_functions()) >= 7
    for name in specs:
        assert f"### `{name}`" in text
    assert "register_sources(register: Callable[[type[Source]], None]) -> None" in text


def test_check_mode_reports_a_stale_doc(tmp_path, capsys):
    stale = tmp_path / "doc.md"
    stale.write_text(f"x\n{hookdoc.BEGIN}\nold\n{hookdoc.END}\n", encoding="utf-8")
    assert hookdoc.main(["--check", str(stale)]) == 1
    assert hookdoc.main(["--write", str(stale)]) == 0
    assert hookdoc.main(["--check", str(stale)]) == 0
    assert stale.read_text(encoding="utf-8").startswith("x\n")
