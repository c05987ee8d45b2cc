"""`isobridge plugins`: each plugin, its version and what it registers."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from ..plugins import load_plugins


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register the command."""
    parser = commands.add_parser("plugins", help="list installed plugins and what they register")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """List plugins; a plugin that failed to load is shown with its error."""
    registry = load_plugins()
    infos = sorted(registry.plugins.values(), key=lambda p: p.name)
    if args.json:
        print(json.dumps([asdict(info) for info in infos], ensure_ascii=False, indent=2))
        return 0
    for info in infos:
        state = "disabled" if info.disabled else f"FAILED: {info.error}" if info.error else "ok"
        parts = [f"sources={','.join(info.sources)}" if info.sources else "",
                 f"sinks={','.join(info.sinks)}" if info.sinks else ""]
        dist = f"{info.distribution} {info.version}".strip()
        print(f"{info.name}\t{dist}\t{state}\t{' '.join(p for p in parts if p)}")
    return 0
