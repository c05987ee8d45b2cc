"""`isobridge new-adapter NAME`: scaffold a separate, installable plugin package for an adapter.

The package has its own pyproject (with the `isobridge` entry point), the adapter module, a
mapping file, a fake-server fixture and a test module running the isobridge contract suite.
"""

from __future__ import annotations

import argparse
import re
from importlib.resources import files
from pathlib import Path

NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
TEMPLATES = "isobridge.core.scaffold_templates"


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register the command."""
    parser = commands.add_parser("new-adapter", help="scaffold a plugin package for a new source or sink")
    parser.add_argument("name", help="adapter name, lower-case words joined by '-', e.g. acme-onegate")
    parser.add_argument("--kind", choices=("source", "sink"), default="source")
    parser.add_argument("--out", type=Path, default=None, help="folder to create (default ./isobridge-NAME)")
    parser.set_defaults(run=run)


def names(name: str, kind: str) -> dict[str, str]:
    """The placeholders of the templates for adapter `name`."""
    if not NAME.match(name):
        raise ValueError(f"{name!r}: use lower-case letters, digits and '-' (e.g. acme-onegate)")
    short = name.removeprefix("isobridge-")
    dist = f"isobridge-{short}"
    section = "sources" if kind == "source" else "sinks"
    return {
        "__NAME__": short, "__DIST__": dist, "__MODULE__": dist.replace("-", "_"), "__KIND__": kind,
        "__CLASS__": "".join(part.title() for part in short.split("-")) + kind.title(),
        "__CONFIG__": f'[{section}.main]\nadapter = "{short}"\nbase_url = "https://example.gov.vn/"',
        "__ENV__": f"ISOBRIDGE_{section.upper()}__MAIN__TOKEN",
    }


def _fill(text: str, values: dict[str, str]) -> str:
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


def render(name: str, kind: str, out: Path) -> list[Path]:
    """Write the package into `out` (which must not exist or be empty); returns the files written."""
    values = names(name, kind)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty")
    written = []
    root = files(TEMPLATES)
    for part in ("common", kind):
        base = Path(str(root / part))
        for template in sorted(base.rglob("*.tmpl")):
            target = out / _fill(str(template.relative_to(base)), values).removesuffix(".tmpl")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(_fill(template.read_text(encoding="utf-8"), values), encoding="utf-8")
            written.append(target)
    return written


def run(args: argparse.Namespace) -> int:
    """Scaffold the package and say what to do next."""
    values = names(args.name, args.kind)
    out = args.out or Path(values["__DIST__"])
    written = render(args.name, args.kind, out)
    print(f"created {values['__DIST__']} ({args.kind} adapter `{values['__NAME__']}`) in {out}: {len(written)} files")
    print(f"next: cd {out} && pip install -e '.[test]' && pytest && isobridge plugins")
    return 0
