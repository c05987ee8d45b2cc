"""The hook reference, generated from :mod:`isobridge.core.hookspecs`.

``python -m isobridge.core.testing.hookdoc`` prints it; ``--write FILE`` replaces the text
between the `<!-- hooks:begin -->` and `<!-- hooks:end -->` markers of FILE; ``--check FILE``
exits 1 when that text differs from the hook specifications.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path

from isobridge.core import hookspecs

BEGIN, END = "<!-- hooks:begin -->", "<!-- hooks:end -->"


def hook_functions() -> list:
    """The hook specifications, in their order in the module."""
    marker = f"{hookspecs.PROJECT}_spec"
    found = [value for value in vars(hookspecs).values() if callable(value) and hasattr(value, marker)]
    return sorted(found, key=lambda fn: fn.__code__.co_firstlineno)


def signature(fn) -> str:
    """`name(arg: type, …) -> result`, with the annotations as written in the source."""
    params = ", ".join(f"{p.name}: {p.annotation}".replace('"', "").replace("'", "") if p.annotation is not p.empty else p.name
                       for p in inspect.signature(fn).parameters.values())
    result = inspect.signature(fn).return_annotation
    return f"{fn.__name__}({params})" + (f" -> {result}" if result is not inspect.Signature.empty else "")


def render() -> str:
    """The generated Markdown of every hook: signature and docstring."""
    parts = []
    for fn in hook_functions():
        doc = inspect.cleandoc(fn.__doc__ or "(undocumented)")
        parts.append(f"### `{fn.__name__}`\n\n```python\n{signature(fn)}\n```\n\n{doc}\n")
    return "\n".join(parts)


def section(text: str) -> str:
    """The text between the markers of a document."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the document has no {BEGIN} … {END} section")
    return text[start + len(BEGIN):end].strip("\n")


def replace(text: str) -> str:
    """The document with its hook section regenerated."""
    start, end = text.find(BEGIN), text.find(END)
    section(text)
    return text[:start + len(BEGIN)] + "\n" + render() + text[end:]


def main(argv: list[str] | None = None) -> int:
    """Print, write or check the hook reference."""
    parser = argparse.ArgumentParser(prog="python -m isobridge.core.testing.hookdoc")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", type=Path, metavar="FILE")
    action.add_argument("--check", type=Path, metavar="FILE")
    args = parser.parse_args(argv)
    if args.write:
        args.write.write_text(replace(args.write.read_text(encoding="utf-8")), encoding="utf-8")
    elif args.check:
        if section(args.check.read_text(encoding="utf-8")) != render().strip("\n"):
            print(f"{args.check}: hook reference out of date; run with --write", file=sys.stderr)
            return 1
    else:
        print(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
